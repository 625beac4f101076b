// Fuzz target: the native half of model loading. ONNX and safetensors are
// parsed and lowered in TypeScript (src/rerank/, src/models/); what reaches
// the core is a layer list (native/addon/mlp_wrap.cc checks its shapes, then
// calls Mlp::Add*). This builds an Mlp from a fuzzed layer list — widths,
// activations and their parameters, weights (NaN and infinities included) —
// and runs what a loaded model runs: Forward, ForwardParallel, bf16, and the
// item-cache split of the first layer.
#include <memory>

#include "core/mlp.h"
#include "fuzz_common.h"

namespace {

// Widths stay small: large shapes are bounded by the binding (kMaxWidth, the
// 2^31-weight limit) and only cost memory here.
constexpr size_t kMaxFuzzWidth = 40;
constexpr size_t kMaxLayers = 8;

std::vector<float> Floats(fr::fuzz::Reader& in, size_t n) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    // Mostly tame values, so the forward pass sees ordinary numbers too.
    const uint8_t mode = in.Byte();
    out[i] = mode < 200 ? static_cast<float>(static_cast<int>(mode) - 100) / 50.0f : in.Float();
  }
  return out;
}

void Run(const fr::Mlp& mlp, fr::fuzz::Reader& in) {
  const fr::KernelTable& kernels = fr::fuzz::Kernels();
  const size_t batch = 1 + in.Byte() % 5;
  std::vector<float> x = Floats(in, batch * mlp.input_size());
  std::vector<float> out(batch * mlp.output_size());
  mlp.Forward(kernels, x.data(), mlp.input_size(), batch, out.data());
  // More rows than a block, over two threads.
  const size_t many = 300;
  std::vector<float> xs(many * mlp.input_size(), 0.25f);
  std::vector<float> outs(many * mlp.output_size());
  mlp.ForwardParallel(kernels, xs.data(), many, outs.data(), 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fr::fuzz::Reader in(data, size);
  std::unique_ptr<fr::Mlp> mlp;
  try {
    mlp = std::make_unique<fr::Mlp>(1 + in.Byte() % kMaxFuzzWidth);
    const size_t layers = in.Byte() % (kMaxLayers + 1);
    for (size_t l = 0; l < layers; ++l) {
      const size_t width = mlp->output_size();
      const uint8_t kind = in.Byte() % 6;
      const auto act = static_cast<fr::Activation>(in.Byte() % 10);
      switch (kind) {
        case 0: {
          const size_t out = 1 + in.Byte() % kMaxFuzzWidth;
          const uint8_t flags = in.Byte();
          const float alpha = in.Float(), beta = in.Float();
          std::vector<float> weight = Floats(in, width * out);
          std::vector<float> bias = Floats(in, out);
          mlp->AddDense(out, weight.data(), flags & 1, flags & 2 ? bias.data() : nullptr, act, alpha, beta);
          break;
        }
        case 1: {
          std::vector<float> gamma = Floats(in, width), shift = Floats(in, width);
          mlp->AddLayerNorm(gamma.data(), in.Byte() & 1 ? shift.data() : nullptr, in.Float());
          break;
        }
        case 2: {
          std::vector<float> scale = Floats(in, width), shift = Floats(in, width);
          mlp->AddAffine(scale.data(), shift.data());
          break;
        }
        case 3: {
          const float alpha = in.Float(), beta = in.Float();
          mlp->AddActivation(act, alpha, beta);
          break;
        }
        case 4: mlp->AddSoftmax(); break;
        default: {
          const float epsilon = in.Float(), scale = in.Float();
          mlp->AddL2Normalize(epsilon, scale);
          break;
        }
      }
    }
  } catch (const fr::Error& e) {
    fr::fuzz::ExpectCode(e, {"ERR_FUSIONRANK_MLP_SHAPE"});
    return 0;
  }
  const uint8_t mode = in.Byte();
  if (mode & 1) mlp->UseBf16(true);
  Run(*mlp, in);
  if (mode & 2) {
    std::vector<uint8_t> item_input(mlp->input_size());
    for (auto& flag : item_input) flag = in.Byte() & 1;
    try {
      fr::MlpSplit split = mlp->SplitFirstLayer(item_input);
      for (fr::Mlp* part : {split.item.get(), split.rest.get(), split.tail.get()})
        if (part) Run(*part, in);
    } catch (const fr::Error& e) {
      fr::fuzz::ExpectCode(e, {"ERR_FUSIONRANK_MLP_SHAPE"});
    }
  }
  return 0;
}
