// How a pooling model turns hidden states into one vector, as its sentence-transformers files
// say: modules.json (is there a Normalize module), 1_Pooling/config.json (the legacy booleans or
// sentence-transformers 6's pooling_mode), sentence_bert_config.json's max_seq_length (or
// tokenizer_config.json's model_max_length).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pagoda {

enum class PoolingMode { kCls, kMean, kMax, kMeanSqrtLen, kLastToken };

const char* pooling_mode_name(PoolingMode mode);

struct PoolingConfig {
  PoolingMode mode = PoolingMode::kCls;
  bool normalize = false;
  int32_t max_seq_length = 0; // 0: the checkpoint states none
  bool sentence_transformers = false; // modules.json was found
};

// Reads the files in `dir`; where there is no modules.json, `fallback_mode` with L2
// normalization (what embedding servers do for a bare checkpoint). Throws pagoda::Error naming
// the file for a pooling mode the engine does not run.
PoolingConfig load_pooling_config(const std::string& dir, PoolingMode fallback_mode);

// Pools rows [0, n) of `h` (each `d` wide) into out[d] on the host, as `mode` says (sums in
// double). The CPU encoder and decoders used as embedders pool this way; the GPU pools on the device.
void pool_rows(PoolingMode mode, const float* h, int64_t n, int64_t d, float* out);

// v / max(||v||₂, 1e-12), as sentence-transformers' Normalize module.
void l2_normalize(float* v, int64_t d);

} // namespace pagoda
