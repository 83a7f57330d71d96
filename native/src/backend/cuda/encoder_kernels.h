// Host launchers of the encoder kernels (BERT / XLM-R embedding and rerank models, and the
// attention of decoders used as embedders): bf16 storage, f32 arithmetic. One function per
// kernel file; each checks its arguments and its launch and throws pagoda::Error.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace pagoda::cuda {

using bf16 = __nv_bfloat16;

// Attention over a packed variable-length batch, no padding and no KV cache: sequence s owns
// tokens [seq_start[s], seq_start[s + 1]); each of its query tokens attends to every token of
// the same sequence (bidirectional) or to those at or before it (causal). Head h of token t
// is at q + t * token_stride + h * head_dim (likewise k and v with their kv head, GQA when
// num_kv_heads < num_q_heads); out is [tokens, num_q_heads * head_dim]. head_dim 16, 32, 64, 128.
// Tensor cores (mma.sync bf16, f32 accumulation), online softmax, 64 query rows per block.
struct VarlenAttentionArgs {
  const bf16* q = nullptr;
  const bf16* k = nullptr;
  const bf16* v = nullptr;
  int64_t token_stride = 0;          // elements between consecutive tokens of q, k, v
  bf16* out = nullptr;
  const int32_t* seq_start = nullptr; // device [num_seqs + 1]
  int num_seqs = 0;
  int max_seq_len = 0;                // the longest sequence (sizes the grid)
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 0.f;                  // softmax scale, 1/sqrt(head_dim)
  bool causal = false;
};
void varlen_attention(const VarlenAttentionArgs& args, cudaStream_t stream);

// out[t] = LayerNorm(word[ids[t]] + position[positions[t]] + token_type[types[t]]) · weight
// + bias over `hidden` columns (statistics in f32, two passes over registers). Ids are
// validated on the host before they get here. hidden a multiple of 8, at most 2048.
void embed_layer_norm(const int32_t* ids, const int32_t* positions, const int32_t* types, const bf16* word,
                      const bf16* position, const bf16* token_type, const bf16* weight, const bf16* bias,
                      bf16* out, int rows, int hidden, float eps, cudaStream_t stream);

// The post-LN residual step, in place: hidden = LayerNorm(hidden + delta + delta_bias) ·
// weight + bias (delta_bias may be null). Same limits as embed_layer_norm.
void add_layer_norm(bf16* hidden, const bf16* delta, const bf16* delta_bias, const bf16* weight, const bf16* bias,
                    int rows, int hidden_size, float eps, cudaStream_t stream);

// In place x = gelu(x + bias), the erf form 0.5·y·(1 + erf(y/√2)) (BERT's "gelu"); bias may
// be null. cols a multiple of 8.
void bias_gelu(bf16* x, const bf16* bias, int rows, int cols, cudaStream_t stream);

// One vector per sequence of the packed batch: the CLS (first) row, the mean, the max, the
// sum / sqrt(len) or the last row of its hidden rows, then (normalize) divided by
// max(||v||₂, 1e-12). out: float32 [num_seqs, hidden].
enum class PoolKind : int { kCls = 0, kMean = 1, kMax = 2, kMeanSqrtLen = 3, kLastToken = 4 };
void pool_sequences(const bf16* hidden, const int32_t* seq_start, int num_seqs, int hidden_size, PoolKind kind,
                    bool normalize, float* out, cudaStream_t stream);

// A cross-encoder's head after its dense GEMM: logits[s, l] = out_bias[l] +
// Σ_i tanh(dense[s, i] + dense_bias[i]) · out_weight[l, i]. dense is float32 [seqs, hidden]
// (the GEMM's f32 output), logits float32 [seqs, labels].
void classifier_head(const float* dense, const bf16* dense_bias, const bf16* out_weight, const bf16* out_bias,
                     float* logits, int seqs, int hidden, int labels, cudaStream_t stream);

} // namespace pagoda::cuda
