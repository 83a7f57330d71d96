// A deterministic stand-in backend for the runtime's unit tests. Its "KV cache" stores the
// token written at each slot; its logits are a hash of the whole context read back through
// the block table. So any mistake in block tables, slot mapping, prefix caching or
// preemption changes the generated tokens, as it would with a real model.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/engine_config.h"
#include "engine/model_facts.h"
#include "engine/sampling_params.h"

namespace pagoda {
namespace testing {

class TestBackend : public Backend {
public:
  explicit TestBackend(int32_t vocab_size) : vocab_size_(vocab_size) {}

  std::string name() const override { return "test"; }
  MemoryProfile profile(int32_t, int32_t) override {
    MemoryProfile p;
    p.total_bytes = size_t{1} << 30;
    p.kv_bytes_per_block = 64;
    return p;
  }
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override {
    block_size_ = block_size;
    slots_.assign(static_cast<size_t>(num_blocks) * block_size, -1);
  }
  void forward(const ForwardBatch& b, std::vector<float>& logits) override {
    ++num_forwards;
    max_batch_tokens = std::max(max_batch_tokens, b.num_tokens());
    for (int32_t t = 0; t < b.num_tokens(); ++t) {
      slots_.at(b.slot_mapping[t]) = b.token_ids[t] * 4096 + b.positions[t];
    }
    // A row per sequence (its last token), or per token with all_logits (context up to it).
    std::vector<std::pair<int32_t, int32_t>> rows; // (sequence, context length)
    for (int32_t s = 0; s < b.num_seqs(); ++s) {
      if (!b.all_logits) rows.emplace_back(s, b.context_lens[s]);
      else
        for (int32_t t = b.query_start[s]; t < b.query_start[s + 1]; ++t) rows.emplace_back(s, b.positions[t] + 1);
    }
    logits.assign(rows.size() * vocab_size_, 0.0f);
    for (size_t row = 0; row < rows.size(); ++row) {
      const auto [s, context] = rows[row];
      uint64_t h = 1469598103934665603ull;
      for (int32_t pos = 0; pos < context; ++pos) {
        int32_t block = b.block_tables[static_cast<size_t>(s) * b.max_blocks_per_seq + pos / block_size_];
        if (block < 0) throw std::runtime_error("TestBackend: context reads an unmapped block");
        int32_t v = slots_.at(static_cast<size_t>(block) * block_size_ + pos % block_size_);
        if (v < 0 || v % 4096 != pos) throw std::runtime_error("TestBackend: stale KV slot");
        h = (h ^ static_cast<uint64_t>(v / 4096)) * 1099511628211ull;
      }
      for (int32_t v = 0; v < vocab_size_; ++v) {
        uint64_t x = (h ^ (static_cast<uint64_t>(v) * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
        x ^= x >> 29;
        logits[row * vocab_size_ + v] = static_cast<float>(x % 10000) / 1000.0f;
      }
    }
  }
  const ModelConfig& model_config() const override {
    throw std::logic_error("TestBackend has no ModelConfig; tests pass ModelFacts directly");
  }

  int32_t num_forwards = 0;
  int32_t max_batch_tokens = 0;

private:
  int32_t vocab_size_;
  int32_t block_size_ = 16;
  std::vector<int32_t> slots_;
};

// What the engine is told of the model a TestBackend stands for.
inline ModelFacts test_model_facts(int32_t vocab_size, int32_t eos_token_id) {
  ModelFacts f;
  f.architecture = "TestForCausalLM";
  f.vocab_size = vocab_size;
  f.max_position_embeddings = 256;
  f.eos_token_ids = {eos_token_id};
  f.bos_token_id = 1;
  f.dtype = "float32";
  return f;
}

// An engine over a TestBackend: `blocks` KV blocks of 4 tokens, the given step budget.
inline EngineConfig test_engine_config(int32_t blocks, int32_t max_num_batched_tokens, int32_t max_num_seqs) {
  EngineConfig c;
  c.model = "test";
  c.num_gpu_blocks_override = blocks;
  c.block_size = 4;
  c.max_num_batched_tokens = max_num_batched_tokens;
  c.max_num_seqs = max_num_seqs;
  return c;
}

// Greedy decoding of exactly max_tokens tokens (EOS does not stop it).
inline SamplingParams test_greedy(int32_t max_tokens) {
  SamplingParams p;
  p.temperature = 0.0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

// A prompt of len ids in [1, vocab_size), different for each salt.
inline std::vector<int32_t> test_prompt(int32_t len, int32_t salt, int32_t vocab_size) {
  std::vector<int32_t> p;
  for (int32_t i = 0; i < len; ++i) p.push_back(1 + (i * 7 + salt * 13) % (vocab_size - 1));
  return p;
}

} // namespace testing
} // namespace pagoda
