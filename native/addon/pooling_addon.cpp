// The N-API face of the pooling run: a PoolingEngine object that loads an embedding or rerank
// model off the main thread and runs embed / score calls on the libuv pool, one Promise each.
#include "pooling_addon.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/pooling_engine.h"
#include "error.h"
#include "options.h"

namespace pagoda {
namespace {

// inputs: { token_ids: number[], token_type_ids?: number[] }[]
std::vector<PoolingInput> inputs_from_js(const Napi::Value& value) {
  if (!value.IsArray()) throw Error("inputs must be an array of { token_ids, token_type_ids? }");
  Napi::Array arr = value.As<Napi::Array>();
  std::vector<PoolingInput> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value item = arr.Get(i);
    if (!item.IsObject()) throw Error("inputs[" + std::to_string(i) + "] must be an object");
    Napi::Object o = item.As<Napi::Object>();
    out[i].token_ids = token_ids_from_js(o.Get("token_ids"));
    Napi::Value types = o.Get("token_type_ids");
    if (!types.IsUndefined() && !types.IsNull()) out[i].token_type_ids = token_ids_from_js(types);
  }
  return out;
}

// embed / score's argument, shared with the worker that runs it; a JS TypeError where it is malformed.
std::shared_ptr<const std::vector<PoolingInput>> inputs_argument(const Napi::CallbackInfo& info) {
  try {
    return std::make_shared<const std::vector<PoolingInput>>(
        inputs_from_js(info.Length() > 0 ? info[0] : info.Env().Undefined()));
  } catch (const Error& err) {
    throw Napi::TypeError::New(info.Env(), err.what());
  }
}

class PoolingWrap : public Napi::ObjectWrap<PoolingWrap> {
public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "PoolingEngine",
                       {InstanceMethod("load", &PoolingWrap::load), InstanceMethod("info", &PoolingWrap::info),
                        InstanceMethod("embed", &PoolingWrap::embed), InstanceMethod("score", &PoolingWrap::score),
                        InstanceMethod("close", &PoolingWrap::close)});
  }

  explicit PoolingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PoolingWrap>(info) {}

private:
  // Runs `work` on the libuv pool; `done` turns its result into JS on the main thread.
  class Worker : public Napi::AsyncWorker {
  public:
    Worker(Napi::Env env, PoolingWrap* wrap, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
        : Napi::AsyncWorker(env), wrap_(wrap), work_(std::move(work)), done_(std::move(done)),
          deferred_(Napi::Promise::Deferred::New(env)) {
      wrap_->Ref();
    }
    // Queues the work (N-API deletes the worker when it is done) and returns its promise.
    Napi::Promise queue() {
      Napi::Promise promise = deferred_.Promise();
      Queue();
      return promise;
    }
    void Execute() override {
      try {
        work_();
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override {
      wrap_->Unref();
      deferred_.Resolve(done_(Env()));
    }
    void OnError(const Napi::Error& e) override {
      wrap_->Unref();
      deferred_.Reject(e.Value());
    }

  private:
    PoolingWrap* wrap_;
    std::function<void()> work_;
    std::function<Napi::Value(Napi::Env)> done_;
    Napi::Promise::Deferred deferred_;
  };

  std::shared_ptr<PoolingEngine> engine(Napi::Env env) {
    if (!engine_) throw Napi::Error::New(env, closed_ ? "the engine is closed" : "the engine is not loaded yet: await load() first");
    return engine_;
  }

  // load(options): Promise<void>
  Napi::Value load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (engine_ || loading_ || closed_) throw Napi::Error::New(env, "load() may be called once per PoolingEngine");
    EngineConfig config = load_options_argument(info);
    loading_ = true;
    auto slot = std::make_shared<std::shared_ptr<PoolingEngine>>();
    auto* worker = new Worker(
        env, this, [config, slot] { *slot = std::make_shared<PoolingEngine>(config); },
        [this, slot](Napi::Env e) {
          engine_ = *slot;
          loading_ = false;
          return e.Undefined();
        });
    return worker->queue();
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<PoolingEngine> e = engine(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("architecture", e->architecture());
    o.Set("task", e->task() == PoolingTask::kEmbed ? "embed" : "score");
    o.Set("hidden_size", e->hidden_size());
    o.Set("max_input_tokens", e->max_input_tokens());
    o.Set("pooling", pooling_mode_name(e->pooling().mode));
    o.Set("normalize", e->pooling().normalize);
    o.Set("device", e->device());
    return o;
  }

  // embed(inputs): Promise<Float32Array[]>
  Napi::Value embed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<PoolingEngine> e = engine(env);
    auto result = std::make_shared<std::vector<std::vector<float>>>();
    auto shared_inputs = inputs_argument(info);
    auto* worker = new Worker(
        env, this, [e, result, shared_inputs] { *result = e->embed(*shared_inputs); },
        [result](Napi::Env en) -> Napi::Value {
          Napi::Array arr = Napi::Array::New(en, result->size());
          for (size_t i = 0; i < result->size(); ++i) {
            const auto& v = (*result)[i];
            Napi::Float32Array f = Napi::Float32Array::New(en, v.size());
            std::copy(v.begin(), v.end(), f.Data());
            arr.Set(i, f);
          }
          return arr;
        });
    return worker->queue();
  }

  // score(inputs): Promise<number[]>
  Napi::Value score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<PoolingEngine> e = engine(env);
    auto result = std::make_shared<std::vector<float>>();
    auto shared_inputs = inputs_argument(info);
    auto* worker = new Worker(
        env, this, [e, result, shared_inputs] { *result = e->score(*shared_inputs); },
        [result](Napi::Env en) -> Napi::Value {
          Napi::Array arr = Napi::Array::New(en, result->size());
          for (size_t i = 0; i < result->size(); ++i) arr.Set(i, (*result)[i]);
          return arr;
        });
    return worker->queue();
  }

  // close(): frees the model once calls in flight (which hold a reference) finish.
  Napi::Value close(const Napi::CallbackInfo& info) {
    closed_ = true;
    engine_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<PoolingEngine> engine_;
  bool loading_ = false;
  bool closed_ = false;
};

} // namespace

Napi::Function define_pooling_engine(Napi::Env env) { return PoolingWrap::define(env); }

} // namespace pagoda
