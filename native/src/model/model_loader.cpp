// load_model: validates the options the loader owns, then reads config and weights.
#include "model/model_loader.h"

#include <sys/stat.h>

#include "engine/engine_config.h"
#include "error.h"

namespace pagoda {

namespace {
bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
} // namespace

LoadedModel load_model(const EngineConfig& e) {
  if (e.model.empty()) throw Error("model is empty: give a checkpoint folder (or a config.json with load_format \"dummy\")");
  if (e.load_format != "auto" && e.load_format != "safetensors" && e.load_format != "dummy") {
    throw Error("load_format \"" + e.load_format + "\" is not supported; use \"auto\", \"safetensors\" or \"dummy\"");
  }
  if (e.dtype != "auto" && e.dtype != "float32" && e.dtype != "bfloat16" && e.dtype != "float16" &&
      e.dtype != "half" && e.dtype != "float") {
    throw Error("dtype \"" + e.dtype + "\" is not supported; use auto, float32, bfloat16 or float16");
  }
  ModelConfig config = load_model_config(e.model);
  config.quantization = resolve_quantization(config.quantization, e.quantization, config.source, e.load_format == "dummy");
  if (e.activation_quantization == "none") config.quantization.dynamic_activations = false;
  else if (e.activation_quantization != "auto")
    throw Error("activation_quantization \"" + e.activation_quantization + "\" is not supported; use \"auto\" or \"none\"");
  if (e.load_format == "dummy") {
    const DType dtype = e.dtype == "auto" ? config.dtype : parse_dtype(e.dtype);
    ModelWeights weights = ModelWeights::dummy(config, dtype, e.seed);
    return LoadedModel{std::move(config), std::move(weights)};
  }
  if (!is_directory(e.model)) {
    throw Error(e.model + ": not a folder; give the checkpoint folder (config.json and model.safetensors), "
                "or use load_format \"dummy\" with a config.json");
  }
  ModelWeights weights = ModelWeights::load(config, e.model);
  return LoadedModel{std::move(config), std::move(weights)};
}

} // namespace pagoda
