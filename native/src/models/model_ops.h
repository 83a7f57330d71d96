// The operations a model file's forward pass is written in, which each backend implements
// (cpu/, cuda/): embedding into the residual stream, norms (the residual add fused with the
// following norm), linear layers through their method, bias, per-head q/k norm, RoPE, paged
// attention with its KV-cache write, SiLU-gated activation. Operands are the backend's
// activation buffers, named by Act; parameters are the model's, prepared by the backend.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/tensor_view.h"
#include "models/linear_layer.h"

namespace pagoda {

// The activations of one step, [num_tokens, width] each; the residual stream (float32) is
// implicit: embed writes it, add_rms_norm accumulates into it.
enum class Act {
  kHidden, // [hidden] the normed residual, input of the next projection
  kQkv,    // [q_size + 2 kv_size] q, k, v of each token side by side
  kAttn,   // [q_size] attention output
  kOut,    // [hidden] a block's output before it joins the residual
  kGateUp, // [2 intermediate] gate, then up
  kMlp,    // [intermediate] silu(gate) * up
};

// A backend's own copy of a vector parameter (norm weight, bias, embedding table).
struct ParamData {
  virtual ~ParamData() = default;
};

// A non-linear parameter of the model: its checkpoint tensors (several are concatenated, as
// q, k and v biases are into one qkv bias) and what the backend made of them.
struct Param {
  std::vector<const TensorView*> parts; // empty: the model has no such parameter
  std::unique_ptr<ParamData> data;
  bool present() const { return !parts.empty(); }
  int64_t numel() const {
    int64_t n = 0;
    for (const TensorView* t : parts) n += t->numel();
    return n;
  }
};

class ModelOps {
public:
  virtual ~ModelOps() = default;
  // residual = table[token_ids]
  virtual void embed(const Param& table) = 0;
  // out = RMSNorm(residual) * weight
  virtual void rms_norm(const Param& weight, Act out) = 0;
  // residual += delta; out = RMSNorm(residual) * weight
  virtual void add_rms_norm(Act delta, const Param& weight, Act out) = 0;
  // out = in · Wᵀ through the layer's method (and the backend's kernel for it)
  virtual void linear(const LinearLayer& layer, Act in, Act out) = 0;
  // x += bias, per token
  virtual void bias_add(Act x, const Param& bias) = 0;
  // RMSNorm over head_dim of every q head and every k head of a kQkv buffer (Qwen3)
  virtual void qk_norm(Act qkv, const Param& q_norm, const Param& k_norm) = 0;
  // rotary embedding of the q and k heads of a kQkv buffer at the step's positions
  virtual void rope(Act qkv) = 0;
  // writes the step's k, v into layer `layer`'s KV cache, then causal paged attention of q
  virtual void attention(int layer, Act qkv, Act out) = 0;
  // out = silu(gate) * up for a [gate | up] buffer
  virtual void silu_mul(Act gate_up, Act out) = 0;
  // From here on the step runs only the rows that give logits (each sequence's last token): `a` and
  // the residual stream keep those rows, in order, and every later op runs on them. The model calls it
  // after its last attention, once every token's K and V are in the cache; a step that needs every
  // token's hidden state (prompt logprobs, pooling) keeps all its rows.
  virtual void keep_logit_rows(Act a) = 0;
};

} // namespace pagoda
