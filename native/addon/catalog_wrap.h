// Shared between the catalog and ranker bindings.
#pragma once
#include <napi.h>

#include <memory>

#include "../core/catalog.h"
#include "../core/mlp.h"

namespace fr {

// The native catalog behind a NativeCatalog JS object; throws a TypeError
// for anything else.
std::shared_ptr<Catalog> CatalogFromJs(Napi::Env env, Napi::Value value);

// The model behind a NativeFusionMlp JS object (defined in mlp_wrap.cc);
// throws a TypeError for anything else.
std::shared_ptr<const Mlp> MlpFromJs(Napi::Env env, Napi::Value value);

}  // namespace fr
