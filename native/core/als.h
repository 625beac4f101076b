// Implicit-feedback matrix factorisation by alternating least squares (Hu,
// Koren & Volinsky 2008, "Collaborative Filtering for Implicit Feedback
// Datasets"), each row solved by a few conjugate-gradient steps started from
// its previous value (Takács, Pilászy & Tikk 2011), on every core.
//
// Objective: Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²), with
// p_ui = 1 and c_ui = 1 + α·w_ui for an interaction of weight w_ui (weights
// of repeated pairs add up), p_ui = 0 and c_ui = 1 for every other pair.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace fr {

struct AlsOptions {
  size_t factors = 64;
  double regularization = 0.01;
  double alpha = 1.0;
  uint32_t iterations = 15;
  uint32_t cg_steps = 3;
  uint64_t seed = 42;
  unsigned threads = 1;
  bool loss = true;  // compute the objective after every iteration
};

// Interactions as coordinates: users[k], items[k] (rows below n_users and
// n_items) and weights[k] (finite, ≥ 0; null means 1 for every k).
struct AlsInput {
  const uint32_t* users = nullptr;
  const uint32_t* items = nullptr;
  const float* weights = nullptr;
  size_t count = 0;
  size_t n_users = 0;
  size_t n_items = 0;
  // Optional starting factors (n_users × factors, n_items × factors, finite);
  // null: N(0, 0.01²) from the seed.
  const float* user_init = nullptr;
  const float* item_init = nullptr;
};

struct AlsResult {
  std::vector<float> user_factors;  // n_users × factors, row-major
  std::vector<float> item_factors;  // n_items × factors
  std::vector<double> loss;         // the objective after each iteration (empty when not asked)
  size_t pairs = 0;                 // distinct (user, item) pairs
  double solve_flops = 0;           // floating-point operations of the row updates (CG and grams)
};

// Throws fr::Error (ERR_FUSIONRANK_INVALID_ARGUMENT, ERR_FUSIONRANK_NON_FINITE)
// on a row, weight or option out of range; std::bad_alloc when out of memory.
AlsResult FitAls(const KernelTable& kernels, const AlsInput& input, const AlsOptions& options);

// YᵀY of n rows × factors (row-major f32), in double: factors × factors.
std::vector<double> Gram(const float* rows, size_t n, size_t factors);

// The closed-form user vector for a history against fixed item factors: solves
// (YᵀY + λI + Σ α w_i y_i y_iᵀ) x = Σ (1 + α w_i) y_i by Cholesky in double.
// `gram` is YᵀY (factors × factors), items[k] < n_items, weights finite ≥ 0
// (null: 1); a repeated item adds its weights. Writes `factors` floats.
void AlsFoldIn(const KernelTable& kernels, const float* item_factors, size_t n_items, size_t factors, const double* gram,
               double regularization, double alpha, const uint32_t* items, const float* weights,
               size_t count, float* out);

}  // namespace fr
