// The addon's PoolingEngine class (embedding and rerank models), registered by addon.cpp.
#pragma once

#include <napi.h>

namespace pagoda {

Napi::Function define_pooling_engine(Napi::Env env);

} // namespace pagoda
