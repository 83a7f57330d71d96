// Reading the addon's JavaScript arguments into engine types, with errors that name the
// option and what it must be.
#pragma once

#include <napi.h>

#include <vector>

#include "engine/engine_config.h"
#include "engine/sampling_params.h"

namespace pagoda {

EngineConfig engine_config_from_js(const Napi::Object& options);
// load(options)'s argument, both engines': its EngineConfig, or a JS TypeError that says what is wrong.
EngineConfig load_options_argument(const Napi::CallbackInfo& info);
SamplingParams sampling_params_from_js(const Napi::Object& params);
std::vector<int32_t> token_ids_from_js(const Napi::Value& value);

} // namespace pagoda
