// An encoder model (bert, xlm_roberta) as the pooling engine drives it, whichever backend runs
// it: one packed batch in, pooled (and normalized) vectors or head logits out. The CPU backend
// (backend/cpu/cpu_encoder.h) pools on the host; the CUDA backend (backend/cuda/cuda_encoder.h)
// pools on the device so only the pooled floats come back. The engine's sources build without
// CUDA through this interface.
#pragma once

#include <string>
#include <vector>

#include "engine/pooling_config.h"
#include "models/encoder_ops.h"

namespace pagoda {

class EncoderDevice {
public:
  virtual ~EncoderDevice() = default;
  // pooled[num_seqs * hidden]: each sequence's vector as `mode` pools it, L2-normalized when
  // `normalize`. Throws pagoda::Error for ids, types or positions outside the model's tables.
  virtual void embed(const PoolingBatch& batch, PoolingMode mode, bool normalize, std::vector<float>& pooled) = 0;
  // logits[num_seqs * num_labels] of the classification head on each sequence's first token.
  virtual void score(const PoolingBatch& batch, std::vector<float>& logits) = 0;
  virtual std::string compute_dtype() const = 0;
};

} // namespace pagoda
