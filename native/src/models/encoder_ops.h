// The operations an encoder model file's forward pass (bert, xlm_roberta) is written in, which
// each backend implements: summed embeddings with their LayerNorm, linear layers, bias,
// bidirectional attention within each packed sequence, erf-GELU and the post-LN residual step.
#pragma once

#include <cstdint>
#include <vector>

#include "models/linear_layer.h"
#include "models/model_ops.h"

namespace pagoda {

// A pooling batch: variable-length sequences packed back to back, no padding.
struct PoolingBatch {
  std::vector<int32_t> token_ids;      // [num_tokens]
  std::vector<int32_t> token_type_ids; // [num_tokens] (0 where the model has one type)
  std::vector<int32_t> positions;      // [num_tokens] the model's position ids
  std::vector<int32_t> seq_start;      // [num_seqs + 1] offsets into token_ids

  int32_t num_seqs() const { return static_cast<int32_t>(seq_start.size()) - 1; }
  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
};

// An encoder step's activations, [num_tokens, width] each. kHidden is the residual stream
// itself: post-LN models normalize the stream, so the normed value is what flows on.
enum class EncAct {
  kHidden, // [hidden]
  kQkv,    // [3 hidden] q, k, v side by side
  kAttn,   // [hidden] attention output
  kOut,    // [hidden] a block's output before the residual add
  kInter,  // [intermediate]
};

class EncoderOps {
public:
  virtual ~EncoderOps() = default;
  // hidden = LayerNorm(word[token_ids] + position[positions] + token_type[token_type_ids])
  virtual void embed(const Param& word, const Param& position, const Param& token_type, const Param& norm_weight,
                     const Param& norm_bias) = 0;
  virtual void linear(const LinearLayer& layer, EncAct in, EncAct out) = 0;
  // x += bias per column (the fused q/k/v bias; the other biases ride on gelu and
  // add_layer_norm, so a backend can fold them into those kernels)
  virtual void bias_add(EncAct x, const Param& bias) = 0;
  // softmax(q·kᵀ/√d)·v of every token over every token of its own sequence (no mask, no cache)
  virtual void attention(EncAct qkv, EncAct out) = 0;
  // y = x + bias; x = 0.5·y·(1 + erf(y/√2))
  virtual void gelu(EncAct x, const Param& bias) = 0;
  // hidden = LayerNorm(hidden + delta + delta_bias)
  virtual void add_layer_norm(EncAct delta, const Param& delta_bias, const Param& weight, const Param& bias) = 0;
};

} // namespace pagoda
