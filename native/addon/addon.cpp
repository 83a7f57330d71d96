// The N-API face of the engine: an Engine object that loads a model off the main thread,
// takes requests (checked synchronously), aborts them, reports stats, and delivers every
// engine step's new tokens to JavaScript in ONE ThreadSafeFunction call.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/llm_engine.h"
#include "error.h"
#include "options.h"
#include "pooling_addon.h"

namespace pagoda {
namespace {

class EngineWrap;
void deliver_step(Napi::Env env, Napi::Function on_step, EngineWrap* wrap, StepOutput* out);
using StepTsfn = Napi::TypedThreadSafeFunction<EngineWrap, StepOutput, deliver_step>;

Napi::Object logprob_to_js(Napi::Env env, int32_t token_id, const TokenLogprobs& l) {
  Napi::Object lp = Napi::Object::New(env);
  lp.Set("token_id", token_id);
  lp.Set("logprob", l.logprob);
  lp.Set("rank", l.rank);
  Napi::Array top = Napi::Array::New(env, l.top.size());
  for (size_t k = 0; k < l.top.size(); ++k) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("token_id", l.top[k].first);
    t.Set("logprob", l.top[k].second);
    top.Set(k, t);
  }
  lp.Set("top", top);
  return lp;
}

Napi::Object delta_to_js(Napi::Env env, const SequenceDelta& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("request_id", d.request_id);
  o.Set("index", d.index);
  Napi::Array ids = Napi::Array::New(env, d.token_ids.size());
  for (size_t i = 0; i < d.token_ids.size(); ++i) ids.Set(i, d.token_ids[i]);
  o.Set("token_ids", ids);
  if (d.has_logprobs) {
    Napi::Array lps = Napi::Array::New(env, d.logprobs.size());
    for (size_t i = 0; i < d.logprobs.size(); ++i) {
      Napi::Object lp = Napi::Object::New(env);
      lp.Set("token_id", d.token_ids[i]);
      lp.Set("logprob", d.logprobs[i].logprob);
      Napi::Array top = Napi::Array::New(env, d.logprobs[i].top.size());
      for (size_t k = 0; k < d.logprobs[i].top.size(); ++k) {
        Napi::Object t = Napi::Object::New(env);
        t.Set("token_id", d.logprobs[i].top[k].first);
        t.Set("logprob", d.logprobs[i].top[k].second);
        top.Set(k, t);
      }
      lp.Set("top", top);
      lps.Set(i, lp);
    }
    o.Set("logprobs", lps);
  }
  if (!d.prompt_logprobs.empty()) { // token ids: the caller knows its prompt (token_id -1 here)
    Napi::Array lps = Napi::Array::New(env, d.prompt_logprobs.size());
    for (size_t i = 0; i < d.prompt_logprobs.size(); ++i) lps.Set(i, logprob_to_js(env, -1, d.prompt_logprobs[i]));
    o.Set("prompt_logprobs", lps);
  }
  if (d.finish_reason != FinishReason::None) {
    o.Set("finish_reason", finish_reason_name(d.finish_reason));
    if (d.stop_token_id >= 0) o.Set("stop_token_id", d.stop_token_id);
  }
  o.Set("request_finished", d.request_finished);
  Napi::Object usage = Napi::Object::New(env);
  usage.Set("prompt_tokens", d.prompt_tokens);
  usage.Set("completion_tokens", d.completion_tokens);
  usage.Set("cached_tokens", d.cached_tokens);
  o.Set("usage", usage);
  return o;
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod("load", &EngineWrap::load),
                        InstanceMethod("addRequest", &EngineWrap::add_request),
                        InstanceMethod("abort", &EngineWrap::abort),
                        InstanceMethod("setTokenMask", &EngineWrap::set_token_mask),
                        InstanceMethod("stats", &EngineWrap::stats),
                        InstanceMethod("modelInfo", &EngineWrap::model_info),
                        InstanceMethod("close", &EngineWrap::close)});
  }

  // new Engine(onStep: (deltas: object[], error: string | null) => void)
  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw Napi::TypeError::New(info.Env(), "new Engine(onStep): onStep must be a function");
    }
    on_step_ = Napi::Persistent(info[0].As<Napi::Function>());
  }

  ~EngineWrap() override {
    if (engine_) engine_->stop();
  }

  // Called on the main thread for each step: keeps the loop alive only while requests run.
  void on_delivered(Napi::Env env, const StepOutput& out) {
    for (const SequenceDelta& d : out.deltas) {
      if (d.request_finished && active_requests_ > 0 && --active_requests_ == 0) tsfn_.Unref(env);
    }
    if (!out.error.empty() && active_requests_ > 0) {
      active_requests_ = 0;
      tsfn_.Unref(env);
    }
  }

  Napi::FunctionReference on_step_;

private:
  class LoadWorker : public Napi::AsyncWorker {
  public:
    LoadWorker(Napi::Env env, EngineWrap* wrap, EngineConfig config)
        : Napi::AsyncWorker(env), wrap_(wrap), config_(std::move(config)),
          deferred_(Napi::Promise::Deferred::New(env)) {
      wrap_->Ref(); // the JS object outlives the load
    }
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override {
      try {
        engine_ = LLMEngine::load(config_);
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override {
      wrap_->started(Env(), std::move(engine_));
      wrap_->Unref();
      deferred_.Resolve(Env().Undefined());
    }
    void OnError(const Napi::Error& e) override {
      wrap_->loading_ = false;
      wrap_->Unref();
      deferred_.Reject(e.Value());
    }

  private:
    EngineWrap* wrap_;
    EngineConfig config_;
    Napi::Promise::Deferred deferred_;
    std::unique_ptr<LLMEngine> engine_;
  };

  // Stops the loop (a step in flight finishes first) and frees the model off the main
  // thread; the step channel is released only after the loop can no longer use it.
  class CloseWorker : public Napi::AsyncWorker {
  public:
    CloseWorker(Napi::Env env, std::unique_ptr<LLMEngine> engine, StepTsfn tsfn)
        : Napi::AsyncWorker(env), engine_(std::move(engine)), tsfn_(tsfn),
          deferred_(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override { engine_.reset(); }
    void OnOK() override {
      tsfn_.Release();
      deferred_.Resolve(Env().Undefined());
    }

  private:
    std::unique_ptr<LLMEngine> engine_;
    StepTsfn tsfn_;
    Napi::Promise::Deferred deferred_;
  };

  void started(Napi::Env env, std::unique_ptr<LLMEngine> engine) {
    engine_ = std::move(engine);
    loading_ = false;
    tsfn_ = StepTsfn::New(env, on_step_.Value(), "pagoda-engine-step", 0, 1, this);
    tsfn_.Unref(env); // idle engines do not keep Node alive
    StepTsfn tsfn = tsfn_;
    engine_->start([tsfn](StepOutput&& out) mutable {
      auto* data = new StepOutput(std::move(out));
      if (tsfn.BlockingCall(data) != napi_ok) delete data; // the channel is closing
    });
  }

  LLMEngine& engine(Napi::Env env) {
    if (!engine_) {
      throw Napi::Error::New(env, closed_ ? "the engine is closed" : "the engine is not loaded yet: await load() first");
    }
    return *engine_;
  }

  // load(options): Promise<void>
  Napi::Value load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (engine_ || loading_ || closed_) throw Napi::Error::New(env, "load() may be called once per Engine");
    EngineConfig config = load_options_argument(info);
    loading_ = true;
    auto* worker = new LoadWorker(env, this, std::move(config)); // deleted by N-API when done
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // addRequest(id: string, promptTokenIds: number[] | Int32Array, params: object): void
  Napi::Value add_request(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LLMEngine& e = engine(env);
    if (info.Length() < 2 || !info[0].IsString()) {
      throw Napi::TypeError::New(env, "addRequest(id, promptTokenIds, samplingParams): id must be a string");
    }
    try {
      std::vector<int32_t> prompt = token_ids_from_js(info[1]);
      SamplingParams params = info.Length() > 2 && info[2].IsObject()
                                  ? sampling_params_from_js(info[2].As<Napi::Object>())
                                  : SamplingParams{};
      e.add_request(info[0].As<Napi::String>().Utf8Value(), std::move(prompt), params);
    } catch (const Error& err) {
      throw Napi::Error::New(env, err.what());
    }
    if (active_requests_++ == 0) tsfn_.Ref(env);
    return env.Undefined();
  }

  // abort(id): boolean — the request's blocks are free when this returns.
  Napi::Value abort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return Napi::Boolean::New(env, false);
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "abort(id): id must be a string");
    return Napi::Boolean::New(env, engine_->abort(info[0].As<Napi::String>().Utf8Value()));
  }

  // setTokenMask(id, index, position, mask: Int32Array | Uint32Array): void — structured
  // output's allowed tokens for one output position (xgrammar's bitmask layout).
  Napi::Value set_token_mask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return env.Undefined(); // closed: nothing waits
    if (info.Length() < 4 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsTypedArray())
      throw Napi::TypeError::New(env, "setTokenMask(id, index, position, mask: Int32Array)");
    Napi::TypedArray a = info[3].As<Napi::TypedArray>();
    if (a.TypedArrayType() != napi_int32_array && a.TypedArrayType() != napi_uint32_array)
      throw Napi::TypeError::New(env, "setTokenMask: mask must be an Int32Array or a Uint32Array");
    const auto* words = reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
    try {
      engine_->set_token_mask(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value(),
                              info[2].As<Napi::Number>().Int32Value(), words, a.ElementLength());
    } catch (const Error& err) {
      throw Napi::Error::New(env, err.what());
    }
    return env.Undefined();
  }

  Napi::Value stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EngineStats s = engine(env).stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("num_running", s.num_running);
    o.Set("num_waiting", s.num_waiting);
    o.Set("kv_blocks_total", s.kv_blocks_total);
    o.Set("kv_blocks_used", s.kv_blocks_used);
    o.Set("kv_blocks_free", s.kv_blocks_free);
    o.Set("kv_blocks_cached", s.kv_blocks_cached);
    o.Set("kv_blocks_touched", s.kv_blocks_touched);
    o.Set("kv_cache_usage", s.kv_cache_usage);
    o.Set("prefix_cache_queries", static_cast<double>(s.prefix_cache_queries));
    o.Set("prefix_cache_hits", static_cast<double>(s.prefix_cache_hits));
    o.Set("num_preemptions", static_cast<double>(s.num_preemptions));
    o.Set("prompt_tokens_total", static_cast<double>(s.prompt_tokens_total));
    o.Set("generation_tokens_total", static_cast<double>(s.generation_tokens_total));
    o.Set("num_steps", static_cast<double>(s.num_steps));
    o.Set("step_host_ms_total", s.step_host_ms_total);
    o.Set("step_forward_ms_total", s.step_forward_ms_total);
    o.Set("step_device_ms_total", s.step_device_ms_total);
    o.Set("device_timed_steps", static_cast<double>(s.device_timed_steps));
    o.Set("device_timed_step_ms_total", s.device_timed_step_ms_total);
    o.Set("device_gap_ms_total", s.device_gap_ms_total);
    o.Set("device_gap_span_ms_total", s.device_gap_span_ms_total);
    o.Set("device_gap_steps", static_cast<double>(s.device_gap_steps));
    o.Set("steps_launched_ahead", static_cast<double>(s.steps_launched_ahead));
    o.Set("tokens_per_second", s.tokens_per_second);
    o.Set("max_model_len", s.max_model_len);
    o.Set("block_size", s.block_size);
    o.Set("idle", s.idle);
    o.Set("device", s.device);
    return o;
  }

  Napi::Value model_info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LLMEngine& e = engine(env);
    const ModelFacts& m = e.model();
    Napi::Object o = Napi::Object::New(env);
    o.Set("architecture", m.architecture);
    o.Set("vocab_size", m.vocab_size);
    o.Set("max_model_len", e.config().max_model_len);
    Napi::Array eos = Napi::Array::New(env, m.eos_token_ids.size());
    for (size_t i = 0; i < m.eos_token_ids.size(); ++i) eos.Set(i, m.eos_token_ids[i]);
    o.Set("eos_token_ids", eos);
    o.Set("bos_token_id", m.bos_token_id >= 0 ? Napi::Value(Napi::Number::New(env, m.bos_token_id)) : env.Null());
    o.Set("dtype", m.dtype);
    o.Set("device", e.backend().name());
    return o;
  }

  // close(): Promise<void> — stops the loop thread and frees the model and KV cache.
  Napi::Value close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    closed_ = true;
    if (!engine_) {
      Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
      d.Resolve(env.Undefined());
      return d.Promise();
    }
    auto* worker = new CloseWorker(env, std::move(engine_), tsfn_);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  std::unique_ptr<LLMEngine> engine_;
  StepTsfn tsfn_;
  bool loading_ = false;
  bool closed_ = false;
  int64_t active_requests_ = 0;
};

void deliver_step(Napi::Env env, Napi::Function on_step, EngineWrap* wrap, StepOutput* raw) {
  std::unique_ptr<StepOutput> out(raw);
  if (env == nullptr || on_step.IsEmpty()) return; // shutting down
  wrap->on_delivered(env, *out);
  Napi::Array deltas = Napi::Array::New(env, out->deltas.size());
  for (size_t i = 0; i < out->deltas.size(); ++i) deltas.Set(i, delta_to_js(env, out->deltas[i]));
  Napi::Value error = out->error.empty() ? env.Null() : Napi::Value(Napi::String::New(env, out->error));
  on_step.Call({deltas, error});
}

} // namespace
} // namespace pagoda

static Napi::Object pagoda_addon_init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", pagoda::EngineWrap::define(env));
  exports.Set("PoolingEngine", pagoda::define_pooling_engine(env));
  return exports;
}

NODE_API_MODULE(pagoda, pagoda_addon_init)
