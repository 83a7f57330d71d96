// PoolingEngine: loading (encoder or decoder model file, pooling config), packing inputs into
// forwards, and pooling each sequence's rows.
#include "engine/pooling_engine.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_encoder.h"
#include "engine/encoder_device.h"
#include "error.h"
#include "json.h"
#include "model/model_loader.h"
#include "models/encoder_model.h"

// The CUDA backend is compiled in when CMake found nvcc and its sources exist.
#if defined(PAGODA_HAVE_CUDA) && __has_include("backend/cuda/cuda_encoder.cpp")
#define PAGODA_CUDA_POOLING 1
#include "backend/cuda/cuda_pooling.h"
#endif

namespace pagoda {

namespace {

constexpr int32_t kKvBlock = 16;

std::string read_architecture(const std::string& model) {
  const std::string file = model.size() > 5 && model.substr(model.size() - 5) == ".json" ? model : model + "/config.json";
  const json::Value cfg = json::parse_file(file);
  const json::Value* archs = cfg.find("architectures");
  if (!archs || !archs->is_array() || archs->size() == 0 || !(*archs)[0].is_string())
    throw Error(file + ": field \"architectures\" must be a non-empty list of strings");
  return (*archs)[0].as_string();
}

std::string folder_of(const std::string& model) {
  if (model.size() > 5 && model.substr(model.size() - 5) == ".json") {
    const size_t slash = model.rfind('/');
    return slash == std::string::npos ? "." : model.substr(0, slash);
  }
  return model;
}

// "cpu" or "cuda" for the configured device; throws for one this build cannot serve.
std::string pick_device(const std::string& device) {
  if (device == "cpu") return "cpu";
  if (device != "cuda" && device != "auto")
    throw Error("device \"" + device + "\" is not supported; use \"auto\", \"cpu\" or \"cuda\"");
#ifdef PAGODA_CUDA_POOLING
  if (cuda_device_visible()) return "cuda";
  if (device == "cuda") throw Error("device \"cuda\": no CUDA device is visible; use device \"cpu\"");
  return "cpu";
#else
  if (device == "cuda")
    throw Error("device \"cuda\": this build of Pagoda has no CUDA backend (it was built without nvcc); use device "
                "\"cpu\"");
  return "cpu";
#endif
}

} // namespace

PoolingEngine::PoolingEngine(const EngineConfig& e) {
  device_ = pick_device(e.device);
  if (e.model.empty()) throw Error("model is empty: give a checkpoint folder");
  if (!e.quantization.empty()) throw Error("quantization is not supported for embedding and rerank models");
  const bool dummy = e.load_format == "dummy";
  if (!dummy && e.load_format != "auto" && e.load_format != "safetensors")
    throw Error("load_format \"" + e.load_format + "\" is not supported; use \"auto\", \"safetensors\" or \"dummy\"");
  architecture_ = read_architecture(e.model);
  const std::string dir = folder_of(e.model);
  int32_t model_max = 0;
  if (is_encoder_architecture(architecture_)) {
    EncoderConfig config = load_encoder_config(e.model);
    const DType dtype = e.dtype == "auto" ? config.dtype : parse_dtype(e.dtype);
    hidden_size_ = config.hidden_size;
    model_max = config.max_tokens();
    position_offset_ = config.position_offset;
    task_ = config.num_labels > 0 ? PoolingTask::kScore : PoolingTask::kEmbed;
    if (task_ == PoolingTask::kScore && config.num_labels != 1)
      throw Error(config.source + ": a reranker needs a single-label head (num_labels 1), found " +
                  std::to_string(config.num_labels));
    if (device_ == "cuda" && e.dtype != "auto" && e.dtype != "bfloat16")
      throw Error("the CUDA backend computes embedding and rerank models in bfloat16; dtype \"" + e.dtype +
                  "\" is not supported there: use dtype \"auto\" or \"bfloat16\", or device \"cpu\"");
    std::unique_ptr<EncoderModel> model = create_encoder_model(config, dir, dummy, dtype, e.seed);
#ifdef PAGODA_CUDA_POOLING
    if (device_ == "cuda") encoder_ = create_cuda_encoder(std::move(model));
#endif
    if (!encoder_) encoder_ = std::make_unique<cpu::CpuEncoder>(std::move(model), e.num_threads);
    pooling_ = load_pooling_config(dir, PoolingMode::kCls);
  } else if (architecture_ == "Qwen3Model") {
#ifdef PAGODA_CUDA_POOLING
    if (device_ == "cuda") {
      decoder_ = create_cuda_embedding_decoder(e);
      hidden_size_ = decoder_->model_config().hidden_size;
      model_max = decoder_->model_config().max_position_embeddings;
    }
#endif
    if (!decoder_) {
      LoadedModel m = load_model(e);
      hidden_size_ = m.config.hidden_size;
      model_max = m.config.max_position_embeddings;
      cpu::CpuOptions options;
      options.num_threads = e.num_threads;
      decoder_ = std::make_unique<cpu::CpuBackend>(create_causal_lm(std::move(m.config), std::move(m.weights)), options);
    }
    pooling_ = load_pooling_config(dir, PoolingMode::kLastToken);
  } else {
    throw Error("architecture \"" + architecture_ +
                "\" is not an embedding or rerank model this engine runs; supported: BertModel, XLMRobertaModel, "
                "BertForSequenceClassification, XLMRobertaForSequenceClassification, Qwen3Model");
  }
  max_input_tokens_ = pooling_.max_seq_length > 0 ? std::min(pooling_.max_seq_length, model_max) : model_max;
  if (e.max_model_len > 0) {
    if (e.max_model_len > model_max)
      throw Error("max_model_len " + std::to_string(e.max_model_len) + " exceeds the model's " + std::to_string(model_max) +
                  " positions");
    max_input_tokens_ = e.max_model_len;
  }
  // A GPU forward wants more rows per GEMM than a CPU one: 16,384 tokens of bge-m3 are about
  // 300 MB of activations.
  const int32_t default_tokens = device_ == "cuda" ? 16384 : 8192;
  max_batch_tokens_ = std::max(e.max_num_batched_tokens > 0 ? e.max_num_batched_tokens : default_tokens, max_input_tokens_);
}

PoolingEngine::~PoolingEngine() = default;

void PoolingEngine::check(const std::vector<PoolingInput>& inputs, PoolingTask task) const {
  if (task != task_)
    throw Error(task_ == PoolingTask::kEmbed ? "this is an embedding model; it cannot score pairs"
                                             : "this is a rerank (cross-encoder) model; it cannot embed");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const PoolingInput& in = inputs[i];
    if (in.token_ids.empty()) throw Error("input " + std::to_string(i) + " is empty");
    if (int64_t(in.token_ids.size()) > max_input_tokens_)
      throw Error("input " + std::to_string(i) + " has " + std::to_string(in.token_ids.size()) +
                  " tokens, more than the model's maximum of " + std::to_string(max_input_tokens_));
    if (!in.token_type_ids.empty() && in.token_type_ids.size() != in.token_ids.size())
      throw Error("input " + std::to_string(i) + ": token_type_ids and token_ids differ in length");
  }
}

PoolingBatch PoolingEngine::pack(const std::vector<PoolingInput>& inputs, size_t begin, size_t end) const {
  PoolingBatch b;
  b.seq_start.push_back(0);
  for (size_t i = begin; i < end; ++i) {
    const PoolingInput& in = inputs[i];
    for (size_t t = 0; t < in.token_ids.size(); ++t) {
      b.token_ids.push_back(in.token_ids[t]);
      b.token_type_ids.push_back(in.token_type_ids.empty() ? 0 : in.token_type_ids[t]);
      b.positions.push_back(position_offset_ + static_cast<int32_t>(t));
    }
    b.seq_start.push_back(b.num_tokens());
  }
  return b;
}

void PoolingEngine::run_decoder(const std::vector<PoolingInput>& inputs, size_t begin, size_t end,
                                std::vector<float>& hidden) {
  // A decoder: a prefill of every sequence at once, each in its own run of KV blocks.
  ForwardBatch b;
  int32_t max_blocks = 0, next_block = 0;
  for (size_t i = begin; i < end; ++i)
    max_blocks = std::max<int32_t>(max_blocks, (int32_t(inputs[i].token_ids.size()) + kKvBlock - 1) / kKvBlock);
  b.max_blocks_per_seq = max_blocks;
  b.query_start.push_back(0);
  for (size_t i = begin; i < end; ++i) {
    const auto& ids = inputs[i].token_ids;
    const int32_t len = static_cast<int32_t>(ids.size()), blocks = (len + kKvBlock - 1) / kKvBlock;
    for (int32_t t = 0; t < len; ++t) {
      b.token_ids.push_back(ids[t]);
      b.positions.push_back(t);
      b.slot_mapping.push_back((next_block + t / kKvBlock) * kKvBlock + t % kKvBlock);
    }
    for (int32_t k = 0; k < max_blocks; ++k) b.block_tables.push_back(k < blocks ? next_block + k : -1);
    next_block += blocks;
    b.query_start.push_back(b.num_tokens());
    b.context_lens.push_back(len);
  }
  // The GPU's embedder attends within the packed rows and keeps no KV cache.
  if (device_ != "cuda" && next_block > kv_blocks_) {
    kv_blocks_ = std::max(next_block, max_batch_tokens_ / kKvBlock + 1);
    decoder_->allocate_kv_cache(kv_blocks_, kKvBlock);
  }
  decoder_->forward_hidden(b, hidden);
}

template <class Fn> void PoolingEngine::for_each_chunk(const std::vector<PoolingInput>& inputs, Fn&& fn) {
  size_t begin = 0;
  while (begin < inputs.size()) {
    size_t end = begin;
    int64_t tokens = 0;
    while (end < inputs.size() && (end == begin || tokens + int64_t(inputs[end].token_ids.size()) <= max_batch_tokens_))
      tokens += int64_t(inputs[end++].token_ids.size());
    fn(begin, end);
    ++forwards_;
    begin = end;
  }
}

std::vector<std::vector<float>> PoolingEngine::embed(const std::vector<PoolingInput>& inputs) {
  std::lock_guard<std::mutex> lock(mutex_);
  check(inputs, PoolingTask::kEmbed);
  std::vector<std::vector<float>> out(inputs.size());
  const int64_t d = hidden_size_;
  std::vector<float> rows;
  for_each_chunk(inputs, [&](size_t begin, size_t end) {
    if (encoder_) { // pooled (and normalized) by the encoder's backend
      encoder_->embed(pack(inputs, begin, end), pooling_.mode, pooling_.normalize, rows);
      for (size_t i = begin; i < end; ++i)
        out[i].assign(rows.begin() + int64_t(i - begin) * d, rows.begin() + int64_t(i - begin + 1) * d);
      return;
    }
    run_decoder(inputs, begin, end, rows);
    int64_t row = 0;
    for (size_t i = begin; i < end; ++i) {
      const int64_t n = static_cast<int64_t>(inputs[i].token_ids.size());
      out[i].resize(static_cast<size_t>(d));
      pool_rows(pooling_.mode, rows.data() + row * d, n, d, out[i].data());
      if (pooling_.normalize) l2_normalize(out[i].data(), d);
      row += n;
    }
  });
  return out;
}

std::vector<float> PoolingEngine::score(const std::vector<PoolingInput>& inputs) {
  std::lock_guard<std::mutex> lock(mutex_);
  check(inputs, PoolingTask::kScore); // only encoders with a head get here
  std::vector<float> out(inputs.size());
  std::vector<float> logits;
  for_each_chunk(inputs, [&](size_t begin, size_t end) {
    encoder_->score(pack(inputs, begin, end), logits); // one label: logits[seq]
    std::copy(logits.begin(), logits.begin() + int64_t(end - begin), out.begin() + int64_t(begin));
  });
  return out;
}

} // namespace pagoda
