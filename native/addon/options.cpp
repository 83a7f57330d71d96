// JavaScript option objects → EngineConfig / SamplingParams; see options.h. Ranges are
// checked by the engine; this file checks presence and types.
#include "options.h"

#include <cmath>

#include "error.h"

namespace pagoda {

namespace {

bool present(const Napi::Object& o, const char* key) {
  return o.Has(key) && !o.Get(key).IsUndefined() && !o.Get(key).IsNull();
}

double number_of(const Napi::Object& o, const char* what, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Error(std::string(what) + "." + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

template <typename Int> void read_int(const Napi::Object& o, const char* what, const char* key, Int& out) {
  if (!present(o, key)) return;
  double d = number_of(o, what, key);
  if (!std::isfinite(d) || std::floor(d) != d) {
    throw Error(std::string(what) + "." + key + " must be an integer, got " + std::to_string(d));
  }
  out = static_cast<Int>(d);
}

void read_double(const Napi::Object& o, const char* what, const char* key, double& out) {
  if (present(o, key)) out = number_of(o, what, key);
}

void read_bool(const Napi::Object& o, const char* what, const char* key, bool& out) {
  if (!present(o, key)) return;
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw Error(std::string(what) + "." + key + " must be a boolean");
  out = v.As<Napi::Boolean>().Value();
}

void read_string(const Napi::Object& o, const char* what, const char* key, std::string& out) {
  if (!present(o, key)) return;
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Error(std::string(what) + "." + key + " must be a string");
  out = v.As<Napi::String>().Utf8Value();
}

} // namespace

EngineConfig engine_config_from_js(const Napi::Object& o) {
  const char* w = "options";
  EngineConfig c;
  read_string(o, w, "model", c.model);
  if (c.model.empty()) throw Error("options.model is required: a checkpoint folder, or a config.json with load_format 'dummy'");
  read_string(o, w, "load_format", c.load_format);
  read_string(o, w, "dtype", c.dtype);
  read_string(o, w, "device", c.device);
  read_string(o, w, "kv_cache_dtype", c.kv_cache_dtype);
  read_int(o, w, "max_model_len", c.max_model_len);
  read_int(o, w, "max_num_seqs", c.max_num_seqs);
  read_int(o, w, "max_num_batched_tokens", c.max_num_batched_tokens);
  read_int(o, w, "block_size", c.block_size);
  read_bool(o, w, "enable_prefix_caching", c.enable_prefix_caching);
  read_bool(o, w, "enable_chunked_prefill", c.enable_chunked_prefill);
  read_double(o, w, "gpu_memory_utilization", c.gpu_memory_utilization);
  read_int(o, w, "kv_cache_space_bytes", c.kv_cache_space_bytes);
  read_int(o, w, "num_gpu_blocks_override", c.num_gpu_blocks_override);
  read_bool(o, w, "enforce_eager", c.enforce_eager);
  read_int(o, w, "seed", c.seed);
  read_int(o, w, "num_threads", c.num_threads);
  read_int(o, w, "tensor_parallel_size", c.tensor_parallel_size);
  read_int(o, w, "pipeline_parallel_size", c.pipeline_parallel_size);
  read_string(o, w, "quantization", c.quantization);
  return c;
}

EngineConfig load_options_argument(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "load(options): options must be an object");
  try {
    return engine_config_from_js(info[0].As<Napi::Object>());
  } catch (const Error& e) {
    throw Napi::TypeError::New(env, e.what());
  }
}

SamplingParams sampling_params_from_js(const Napi::Object& o) {
  const char* w = "samplingParams";
  SamplingParams p;
  read_int(o, w, "n", p.n);
  read_int(o, w, "max_tokens", p.max_tokens);
  read_int(o, w, "min_tokens", p.min_tokens);
  read_double(o, w, "temperature", p.temperature);
  read_int(o, w, "top_k", p.top_k);
  read_double(o, w, "top_p", p.top_p);
  read_double(o, w, "min_p", p.min_p);
  read_double(o, w, "repetition_penalty", p.repetition_penalty);
  read_double(o, w, "presence_penalty", p.presence_penalty);
  read_double(o, w, "frequency_penalty", p.frequency_penalty);
  if (present(o, "seed")) {
    int64_t seed = 0;
    read_int(o, w, "seed", seed);
    p.seed = static_cast<uint64_t>(seed);
  }
  read_int(o, w, "logprobs", p.logprobs);
  read_int(o, w, "prompt_logprobs", p.prompt_logprobs);
  if (present(o, "stop_token_ids")) p.stop_token_ids = token_ids_from_js(o.Get("stop_token_ids"));
  read_bool(o, w, "ignore_eos", p.ignore_eos);
  read_bool(o, w, "constrained", p.constrained);
  if (present(o, "logit_bias")) { // [[token, bias], ...]: the caller resolved the keys to ids
    Napi::Value v = o.Get("logit_bias");
    if (!v.IsArray()) throw Error("samplingParams.logit_bias must be an array of [token_id, bias] pairs");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      Napi::Array pair = e.IsArray() ? e.As<Napi::Array>() : Napi::Array();
      if (!e.IsArray() || pair.Length() != 2 || !pair.Get(0u).IsNumber() || !pair.Get(1u).IsNumber())
        throw Error("samplingParams.logit_bias must be an array of [token_id, bias] pairs");
      const double id = pair.Get(0u).As<Napi::Number>().DoubleValue();
      if (!std::isfinite(id) || std::floor(id) != id || id < INT32_MIN || id > INT32_MAX)
        throw Error("samplingParams.logit_bias token ids must be integers");
      p.logit_bias.emplace_back(static_cast<int32_t>(id), pair.Get(1u).As<Napi::Number>().FloatValue());
    }
  }
  return p;
}

std::vector<int32_t> token_ids_from_js(const Napi::Value& value) {
  std::vector<int32_t> ids;
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = value.As<Napi::Int32Array>();
    ids.assign(a.Data(), a.Data() + a.ElementLength());
    return ids;
  }
  if (!value.IsArray()) throw Error("token ids must be an array of integers (or an Int32Array)");
  Napi::Array a = value.As<Napi::Array>();
  ids.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value v = a.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || std::floor(d) != d || d < INT32_MIN || d > INT32_MAX) {
      throw Error("token ids must be integers; element " + std::to_string(i) + " is not");
    }
    ids.push_back(static_cast<int32_t>(d));
  }
  return ids;
}

} // namespace pagoda
