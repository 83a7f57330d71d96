// Host launchers of the CUDA backend's kernels (bf16 storage, f32 arithmetic; the float
// overloads serve the float32 compute path, dtype "float32"). One function per kernel; each
// checks its launch and throws pagoda::Error on a bad argument.
// Token rows may sit inside a wider buffer (q, k, v inside the fused qkv output), so
// kernels that read them take a row stride in elements.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/decode_plan.h"
#include "backend/logit_adjustment.h"

namespace pagoda::cuda {

using bf16 = __nv_bfloat16;

// out[t, :] = table[ids[t], :]; also gathers hidden rows (ids = row indices). ids outside
// [0, num_rows) give a zero row (the engine validates ids before they get here). The float
// overloads widen to a float32 residual stream, or gather float32 rows.
void embedding_gather(const int32_t* ids, const bf16* table, bf16* out, int num_tokens,
                      int hidden, int num_rows, cudaStream_t stream);
void embedding_gather(const int32_t* ids, const bf16* table, float* out, int num_tokens,
                      int hidden, int num_rows, cudaStream_t stream);
void embedding_gather(const int32_t* ids, const float* table, float* out, int num_tokens,
                      int hidden, int num_rows, cudaStream_t stream);

// out = x * rsqrt(mean(x^2) + eps) * weight, one row of `hidden` per token; x is bf16 or a
// float32 residual stream.
void rms_norm(const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
              cudaStream_t stream);
void rms_norm(const float* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
              cudaStream_t stream);
void rms_norm(const float* x, const float* weight, float* out, int rows, int hidden, float eps,
              cudaStream_t stream);

// The bf16 output of a norm or SiLU·mul fake-quantized for the W8A8 linears that read it:
// bf16(e4m3(y / s) * s) from the float32 value y, s = max(|y|, 1e-12) / 448 per token, or per
// token and 128 columns (fp8_fuse.cuh). kNone: the plain kernel.
enum class Fp8Fuse { kNone, kPerToken, kGroup128 };

// The float32-residual rms_norm with the output fake-quantized as `fuse` says (kGroup128:
// hidden % 128 == 0).
void rms_norm(const float* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
              cudaStream_t stream, Fp8Fuse fuse);

// residual += x (stored back in the residual's type), then out = rms_norm(residual).
void add_rms_norm(bf16* residual, const bf16* x, const bf16* weight, bf16* out, int rows,
                  int hidden, float eps, cudaStream_t stream);
void add_rms_norm(float* residual, const bf16* x, const bf16* weight, bf16* out, int rows,
                  int hidden, float eps, cudaStream_t stream);
void add_rms_norm(float* residual, const float* x, const float* weight, float* out, int rows,
                  int hidden, float eps, cudaStream_t stream);
// The same with the output fake-quantized as `fuse` says (kGroup128: hidden % 128 == 0).
void add_rms_norm(float* residual, const bf16* x, const bf16* weight, bf16* out, int rows,
                  int hidden, float eps, cudaStream_t stream, Fp8Fuse fuse);

// In place, each head of `head_dim` normalized on its own with a shared weight[head_dim]
// (Qwen3 q_norm / k_norm). Head h of token t starts at x + t * token_stride + h * head_dim.
void rms_norm_heads(bf16* x, const bf16* weight, int num_tokens, int num_heads, int head_dim,
                    int64_t token_stride, float eps, cudaStream_t stream);
void rms_norm_heads(float* x, const float* weight, int num_tokens, int num_heads, int head_dim,
                    int64_t token_stride, float eps, cudaStream_t stream);

// In place rotary embedding, neox style (rotate halves of the first rotary_dim elements of
// each head), on the q heads and k heads of every token; angle = positions[t] * inv_freq[i].
void rope_neox(bf16* q, bf16* k, int64_t token_stride, const int32_t* positions,
               const float* inv_freq, int num_tokens, int num_q_heads, int num_kv_heads,
               int head_dim, int rotary_dim, cudaStream_t stream);
void rope_neox(float* q, float* k, int64_t token_stride, const int32_t* positions,
               const float* inv_freq, int num_tokens, int num_q_heads, int num_kv_heads,
               int head_dim, int rotary_dim, cudaStream_t stream);

// rope_neox on q and k, then kv_cache_write of the rotated k and of v (layout and slots below), in one kernel:
// the same values in q, k and the cache as the two calls (head_dim % 8 == 0).
void rope_neox_kv_write(bf16* q, bf16* k, const bf16* v, int64_t token_stride, const int32_t* positions,
                        const float* inv_freq, const int32_t* slot_mapping, bf16* k_cache, bf16* v_cache,
                        int num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim,
                        int block_size, cudaStream_t stream);
void rope_neox_kv_write(float* q, float* k, const float* v, int64_t token_stride, const int32_t* positions,
                        const float* inv_freq, const int32_t* slot_mapping, float* k_cache, float* v_cache,
                        int num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim,
                        int block_size, cudaStream_t stream);

// What a qkv GEMM needs to finish RoPE and the KV cache write in its own epilogue (skinny_gemm_qkv_rope,
// quant_gemm_lean_qkv_rope): the arguments of rope_neox_kv_write that do not come from the GEMM. Its CTAs
// take the q and k rows in RoPE pairs (qkv_rope.cuh), so rotary_dim must equal head_dim, a multiple of 16.
struct QkvRope {
  const int32_t* positions = nullptr;
  const float* inv_freq = nullptr;
  const int32_t* slots = nullptr;
  bf16* k_cache = nullptr;
  bf16* v_cache = nullptr;
  int num_q_heads = 0, num_kv_heads = 0, head_dim = 0, block_size = 0;
};
// A decode layer's residual add + RMSNorm split over the two GEMVs around it (m <= 8; split_norm.cuh), so no
// norm kernel runs between them. The GEMV writing into the residual stream (o_proj, down: the producer) adds its
// bf16-rounded rows into `residual`, writes scaled = bf16(residual * gamma) for the next GEMV and each 16-row
// tile's sum of residual^2 into sums[row * parts + tile]; the GEMV reading `scaled` (qkv, gate_up: the consumer)
// multiplies its outputs of row i by rsqrt(sum of row i's sums / width + eps) (RMSNorm's 1 / rms is one number a
// row, so it may come after the dot products). A kernel given neither (null residual, null sums_in) is unchanged.
struct SplitNorm {
  float* residual = nullptr;    // producer: float32 [m, n], n = width
  const bf16* gamma = nullptr;  // producer: the next norm's weight [n]
  bf16* scaled = nullptr;       // producer: [m, n]
  float* sums_out = nullptr;    // producer: [m, parts]
  const float* sums_in = nullptr; // consumer: [m, parts]
  int parts = 0;                // width / 16
  int width = 0;
  float eps = 0.f;
};
// Rows a split norm serves (one n8 tile of input rows).
constexpr int kSplitNormMaxRows = 8;
// The launchers' check: no split norm, or one side of one (never both) with 1 <= m <= kSplitNormMaxRows, the width
// the GEMV's k (consumer) or n (producer) and a multiple of 16 with parts = width / 16, and every pointer its side
// needs; throws pagoda::Error naming `kernel` otherwise.
void check_split_norm(const char* kernel, const SplitNorm& norm, int m, int width, bool producer);

// True when a qkv GEMM of head_dim and rotary_dim can finish RoPE and the KV write itself; it does so for up to
// kQkvRopeMaxRows tokens (one thread a RoPE pair and token in the epilogue).
inline bool qkv_rope_supports(int head_dim, int rotary_dim) {
  return rotary_dim == head_dim && head_dim % 16 == 0 && head_dim > 0;
}
constexpr int kQkvRopeMaxRows = 8;
// CTAs of the cluster an int4 qkv GEMM with RoPE launches (qkv_rope.cuh's cluster epilogue: a head's 16-row tiles in
// one cluster, the RoPE pairs of tile t in tile t + head_dim / 32): head_dim / 16 where head_dim is a multiple of 32
// up to 128 (a portable cluster of at most 8), else 0 (not served that way).
inline int qkv_rope_cluster(int head_dim) {
  return head_dim > 0 && head_dim % 32 == 0 && head_dim <= 128 ? head_dim / 16 : 0;
}
// The launchers' argument check: 1 <= m <= kQkvRopeMaxRows, a head_dim qkv_rope_supports, n = (q heads + 2 kv
// heads) * head_dim and a block size; throws pagoda::Error naming `kernel` and the values otherwise.
void check_qkv_rope(const char* kernel, int m, int n, const QkvRope& rope);

// out[t, i] = silu(gate_up[t, i]) * gate_up[t, intermediate + i].
void silu_mul(const bf16* gate_up, bf16* out, int num_tokens, int intermediate,
              cudaStream_t stream);
void silu_mul(const float* gate_up, float* out, int num_tokens, int intermediate,
              cudaStream_t stream);
// The same with the output fake-quantized as `fuse` says: one block a token (intermediate % 8
// == 0; kGroup128: % 128 == 0).
void silu_mul(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream,
              Fp8Fuse fuse);
// The same on gate_up columns interleaved by 8 (as silu_mul_interleaved reads them); kPerToken only.
void silu_mul_interleaved(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream,
                          Fp8Fuse fuse);
// The second half of silu_mul(..., kPerToken) after quant_gemm_silu_fp8's kernel wrote the float32 products
// staged[t * intermediate + i] and each token's partial maxima staged[8 * intermediate + t * parts + p]:
// out = e4m3(y / s) * s, s from the max of the parts, the bits silu_mul(..., kPerToken) gives for the same
// products. num_tokens <= 8, intermediate % 8 == 0; many blocks a token (its amax is known already).
void silu_mul_fp8_finish(const float* staged, int parts, bf16* out, int num_tokens, int intermediate,
                         cudaStream_t stream);
// The same as silu_mul(bf16) on a gate_up output whose columns are interleaved by 8 (a GEMM on the
// interleaved weight of skinny_gemm_silu): gate column 8b + j at 16b + j, up column 8b + j at 16b + 8 + j.
void silu_mul_interleaved(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream);
// Rows of a [2 * intermediate, k] gate_up weight (gate rows, then up rows) reordered in place into the
// interleaved-by-8 order above, through `scratch` (as many bytes as the weight). intermediate % 8 == 0.
void interleave_gate_up_rows(bf16* w, int intermediate, int k, void* scratch, cudaStream_t stream);

// x[t, c] += bias[c] for a [num_tokens, cols] block (row stride cols).
void bias_add(bf16* x, const bf16* bias, int num_tokens, int cols, cudaStream_t stream);
void bias_add(float* x, const float* bias, int num_tokens, int cols, cudaStream_t stream);

// KV cache layout of one layer: [num_blocks, num_kv_heads, block_size, head_dim], so the
// tokens of one block and head are contiguous. slot = block * block_size + offset; a
// negative slot skips the token (padding).
void kv_cache_write(const bf16* k, const bf16* v, int64_t token_stride,
                    const int32_t* slot_mapping, bf16* k_cache, bf16* v_cache, int num_tokens,
                    int num_kv_heads, int head_dim, int block_size, cudaStream_t stream);
void kv_cache_write(const float* k, const float* v, int64_t token_stride,
                    const int32_t* slot_mapping, float* k_cache, float* v_cache, int num_tokens,
                    int num_kv_heads, int head_dim, int block_size, cudaStream_t stream);
// kv_cache_dtype fp8: the cache holds e4m3 codes of x / scale (round to nearest even,
// saturating at +-448), the CPU backend's convention; the attention kernels multiply back.
void kv_cache_write(const bf16* k, const bf16* v, int64_t token_stride,
                    const int32_t* slot_mapping, uint8_t* k_cache, uint8_t* v_cache, float k_scale,
                    float v_scale, int num_tokens, int num_kv_heads, int head_dim, int block_size,
                    cudaStream_t stream);

// What the attention kernels read. q rows [num_tokens, num_q_heads * head_dim] with stride
// q_token_stride; out rows [num_tokens, num_q_heads * head_dim] contiguous. Sequence s owns
// tokens [query_start[s], query_start[s+1]) at absolute positions ending at
// context_lens[s] - 1; its K/V (already written) are read through its block table row.
// T is the element type of q, the cache and out: bf16, or float for the float32 kernel.
template <typename T> struct PagedAttentionArgsOf {
  const T* q = nullptr;
  int64_t q_token_stride = 0;
  const T* k_cache = nullptr;
  const T* v_cache = nullptr;
  T* out = nullptr;
  const int32_t* query_start = nullptr;  // [num_seqs + 1]
  const int32_t* context_lens = nullptr; // [num_seqs]
  const int32_t* block_tables = nullptr; // [num_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  // Blocks in the layer's cache (the tensor map of the wgmma prefill's TMA schedules bounds its
  // block coordinate with it); 0 = not given, and those schedules copy with cp.async instead.
  int64_t num_cache_blocks = 0;
  float scale = 0.f; // softmax scale, usually 1/sqrt(head_dim)
  // kv_cache_dtype fp8 (bf16 kernels only): when set, K/V are read from these e4m3 caches
  // (k_cache / v_cache unused), element = code * k_scale (v_scale), converted to bf16 after
  // the load, so the kernels read half the bytes.
  const uint8_t* k_cache_fp8 = nullptr;
  const uint8_t* v_cache_fp8 = nullptr;
  float k_scale = 1.f;
  float v_scale = 1.f;
};
using PagedAttentionArgs = PagedAttentionArgsOf<bf16>;
using PagedAttentionArgsF32 = PagedAttentionArgsOf<float>;

// The float32 compute path's attention, every token of the batch in one launch (prefill,
// chunked prefill and decode alike): causal by absolute position, any head_dim in 1..256,
// GQA / MQA. One block per (token, q head), an online softmax over the context; written to
// be plainly correct rather than fast (the float32 models are small).
void paged_attention_f32(const PagedAttentionArgsF32& args, int num_tokens, int num_seqs,
                         cudaStream_t stream);

// Prefill / chunked prefill: causal by absolute position. Work is a list of query tiles
// (seq index, first query row within the sequence), each tile kPrefillTileRows rows.
constexpr int kPrefillTileRows = 64;
struct PrefillTile {
  int32_t seq;
  int32_t row;
};
void paged_attention_prefill(const PagedAttentionArgs& args, const PrefillTile* tiles,
                             int num_tiles, cudaStream_t stream);
// The mma.sync kernel alone, whatever PAGODA_PREFILL_WGMMA says (every head_dim, bf16 or fp8 KV):
// what paged_attention_prefill runs where the wgmma kernel does not apply.
void paged_attention_prefill_mma(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles,
                                 cudaStream_t stream);

// The Hopper prefill kernel (attention_prefill_wgmma.cu: warpgroup MMA, a producer warpgroup and
// mbarrier-driven K/V stages, 128 query rows a CTA): paged_attention_prefill's contract and tile
// list, for bf16 KV and head_dim 64, 128 or 256 on an sm_90 device in a build for sm_90a
// (_supported says whether `args` qualifies). Schedules: kSimple runs S = Q K^T, the softmax and
// P V in turn with 2 K/V stages; kSimpleDeep the same with 3 (head_dim 128) or 4 (64); kOverlap is
// FlashAttention-3's (S of a tile beside P V of the one before, the two consumer warpgroups taking
// turns), with 3 or 4 stages; kSimpleTma is kSimpleDeep with the producer on the bulk copy engine
// (tensor-map boxes from one thread; needs args.num_cache_blocks and a block size the boxes fit, else
// it runs kSimpleDeep); kPingpong is FlashAttention-3's inter-warpgroup pingpong (one P set, P V of
// a tile issued with S of the next on the warpgroup's turn) on that producer, kPingpongCpAsync the
// same on cp.async. kPingpongLazy is that pingpong (the bulk-copy producer at head_dim 128 where the
// boxes fit, cp.async otherwise) skipping the O rescale where no row max of a warp moved (bit for bit
// kPingpong's output), the fastest measured on the H200: head_dim 128 336 / 400 / 395 TFLOP/s at 4k / 32k / 131k
// tokens (kPingpong 332 / 391 / 385), head_dim 64 265 / 320 / 325 (kPingpongCpAsync 265 / 318 / 321).
// kPingpongTwoIssuers: kPingpongLazy with K's and V's bulk copies issued from two threads (bit for bit the same),
// head_dim 128 on the bulk copies only (else kPingpongLazy). kDefault is kPingpongTwoIssuers since session 29: at
// block size 16, 565 / 552 TFLOP/s at 32k / 131k tokens on an H100 against kPingpongLazy's 529 / 520.
// Head_dim 256 runs kSimple whatever is asked.
enum class WgmmaPrefillSchedule {
  kDefault, kSimple, kSimpleDeep, kOverlap, kSimpleTma, kPingpong, kPingpongCpAsync,
  kPingpongLazy, kPingpongTwoIssuers
};
const char* wgmma_prefill_schedule_name(WgmmaPrefillSchedule schedule);
bool paged_attention_prefill_wgmma_supported(const PagedAttentionArgs& args);
// PAGODA_PREFILL_WGMMA: unset or 1 = on with kDefault; 0 = off (the mma.sync kernel); simple /
// simple-deep / overlap / simple-tma / pingpong / pingpong-cp-async / pingpong-lazy / pingpong-two-issuers = on with that
// schedule (written to *schedule when given). Read once;
// anything else throws. paged_attention_prefill takes the wgmma kernel when this is on and the
// arguments qualify (bf16 KV, head_dim 64 / 128 / 256 or one padded to them: 32-112 in steps of 16, to 240 with
// PAGODA_PREFILL_WGMMA_PADDED=1; sm_90, at most 65,535 tiles a launch).
bool paged_attention_prefill_wgmma_switch(WgmmaPrefillSchedule* schedule = nullptr);
void paged_attention_prefill_wgmma(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles,
                                   cudaStream_t stream, WgmmaPrefillSchedule schedule = WgmmaPrefillSchedule::kDefault);

// Decode (one query token per sequence): the sequences in seq_ids[0..num_seqs), planned by
// decode_plan.h (partials of split contexts in `workspace`, merged by a second kernel).
// The engine's decode plan switches on a device of num_sms SMs (the variables read once):
// PAGODA_DECODE_SHALLOW=N (shallow from N blocks an SM; unset 4, 0 never) or =all, and
// PAGODA_DECODE_LONGEST_FIRST=0|1 (unset 1: the step's decode ids ordered longest context first,
// blocks heads_fastest). Anything else throws.
DecodePlanOptions decode_plan_switches(int num_sms);
void paged_attention_decode(const PagedAttentionArgs& args, const int32_t* seq_ids,
                            int num_seqs, const DecodePlan& plan, void* workspace,
                            size_t workspace_bytes, cudaStream_t stream);
// The same decode kernel and merge for cascade attention's suffix: every (sequence, query head)
// owns prefix_slots + plan.max_partitions slots of `workspace` (cascade_workspace_bytes), the first
// prefix_slots already holding the shared prefix's partials (cascade_prefix_attention); the kernel
// writes its partials after them and the merge combines all into args.out.
void paged_attention_decode_after_prefix(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                                         const DecodePlan& plan, int prefix_slots, void* workspace,
                                         cudaStream_t stream);

// Cascade attention for decode sequences that share a prefix of whole KV blocks (attention_cascade.cu,
// cascade_plan.h; bf16 KV, head_dim 64 or 128): cascade_prefix_attention reads the prefix's K/V once
// for all the sequences' queries and writes its partials, the decode kernel runs on each sequence's
// blocks after the prefix (args' block tables offset by prefix_blocks, suffix_context_lens), and one
// merge combines both. Same output as paged_attention_decode on args.
struct CascadeStep {
  const int32_t* prefix_table = nullptr;        // the prefix's block ids (one sequence's table row)
  int prefix_blocks = 0;                        // whole blocks shared by every decode sequence
  const int32_t* suffix_context_lens = nullptr; // [num_seqs of the batch] context_len - prefix tokens
  int prefix_row_tiles = 0, prefix_partition_tokens = 0, prefix_partitions = 0; // plan_cascade_prefix
  DecodePlan suffix_plan;                       // for the longest suffix
};
// Fills step's plans (prefix_blocks must be set): the prefix kernel's grid (plan_cascade_prefix) and
// the suffix decode's plan for the longest decode context less the prefix.
void plan_cascade_step(CascadeStep& step, int num_decode, int num_kv_heads, int num_q_heads, int block_size,
                       int max_decode_context, int num_sms);
void cascade_prefix_attention(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                              const CascadeStep& step, void* workspace, cudaStream_t stream);
size_t cascade_attention_workspace_bytes(const CascadeStep& step, int num_seqs, int num_q_heads, int head_dim);
void cascade_attention_decode(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                              const CascadeStep& step, void* workspace, size_t workspace_bytes, cudaStream_t stream);

// y[m, n] (+)= x[m, k] · w[n, k]^T for decode-sized m (1..kSkinnyGemmMaxRows): streams the
// weight once on tensor cores (one kernel for every m); y is bf16 or f32 (out_f32),
// y = result + beta * y. cublaslt.cpp chooses between this and cuBLASLt per shape by timing
// both once.
constexpr int kSkinnyGemmMaxRows = 16;
bool skinny_gemm_supports(int m, int k, const void* x, const void* w);
void skinny_gemm(const bf16* x, const bf16* w, void* y, bool out_f32, int m, int n, int k, float beta,
                 cudaStream_t stream);
// out[m, intermediate] = silu(x · gate^T) * (x · up^T) in one kernel, from a gate_up weight whose rows are
// interleaved by 8 (interleave_gate_up_rows): rows 16b..16b+7 are gate rows 8b..8b+7 and rows 16b+8..16b+15
// the up rows 8b..8b+7. Bit for bit skinny_gemm (bf16 out) on the plain weight followed by silu_mul.
void skinny_gemm_silu(const bf16* x, const bf16* w_interleaved, bf16* out, int m, int intermediate, int k,
                      cudaStream_t stream, const SplitNorm& norm = SplitNorm{});

// skinny_gemm (bf16 out) of the fused qkv weight [(q + 2 kv heads) * head_dim, k], then rope_neox_kv_write,
// in one kernel (m <= kSkinnyGemmMaxRows): qkv[m, n] holds the rotated q and k and v, and the cache the
// rotated k and v at each token's slot; the bits of the pair it replaces.
void skinny_gemm_qkv_rope(const bf16* x, const bf16* w, bf16* qkv, int m, int n, int k, const QkvRope& rope,
                          cudaStream_t stream, const SplitNorm& norm = SplitNorm{});
// skinny_gemm (bf16 out, m <= kSplitNormMaxRows) as one side of a split norm: a consumer (norm.sums_in: x is the
// producer's scaled row) or a producer (norm.residual: y is not written; n the width, a multiple of 16).
void skinny_gemm_split_norm(const bf16* x, const bf16* w, bf16* y, int m, int n, int k, const SplitNorm& norm,
                            cudaStream_t stream);

// out[r] = index of the largest logits[r, :] (the lowest index among equals).
void argmax_rows(const float* logits, int32_t* out, int rows, int vocab, cudaStream_t stream);

// One row's sampling settings on the device (Backend's RowSampling, in floats).
struct DeviceRowSampling {
  float temperature; // < 1e-5: greedy
  int32_t top_k;     // <= 0: all
  float top_p;
  float min_p;
  float uniform;     // the row's draw in [0, 1)
  int32_t want_logprob;
  int32_t top_logprobs;  // also the top n raw logits' logprobs (needs want_logprob)
  int32_t adjust_begin; // the row's entries of `adjustments` (penalties, min_tokens masks)
  int32_t adjust_end;
  int32_t mask_row;     // structured output: the row's bitmask in `masks` (-1: none)
};
// out_ids[r]: the token sampled from logits[r, :] with params[r]: first the row's
// adjustments (adjusted_logit, applied in place and undone afterwards; adjust_raw, as many
// floats as adjustments, keeps the raw values meanwhile), then candidates are the tokens
// whose probability exp((l - max) / T) is >= min_p, within the top_k, within the smallest
// most-probable set reaching top_p of their mass; the draw walks them in index order. When
// want_logprob: out_logprobs[r], the log-softmax of the raw logits at the chosen token, and
// out_top_ids / out_top_logprobs[r * top_stride + k] for the row's top_logprobs best raw
// logits (ties: lower id), the rest of its top_stride entries 0. The tokens of one row's
// adjustments must be distinct, but for a last entry of token -1 - r: the newest token's share
// (LogitAdjustment), resolved as previous_ids[r] (the ids of the step launched before; null when
// no row has such an entry). A row with mask_row >= 0 samples only tokens whose bit is
// set in masks[mask_row * mask_words ...] (bit t of word t / 32), read beside the logits, so
// the logprobs stay the raw ones; unmasked rows read no mask.
// bytes (whole 4-byte words, both ends 16-byte aligned) of page-locked host memory to the device by a kernel on
// `stream` (host_copy.cu: no copy-engine hand-offs between a step's kernels); mapped_src is the pages' device
// address (PinnedBuffer::device_data). With a fill, every word in [fill.begin, fill.begin + fill.count) (4-byte
// words from the start of the copy) holding r' < 0 lands as previous_ids[-1 - r']: the token ids of a step launched
// ahead of the previous step's sampled ids, which are on the device (previous_ids null: nothing to fill).
struct PlaceholderFill {
  size_t begin = 0;
  int count = 0;
  const int32_t* previous_ids = nullptr;
};
void copy_from_host(void* device_dst, const void* mapped_src, size_t bytes, cudaStream_t stream,
                    const PlaceholderFill& fill = PlaceholderFill{});

// The outputs may lie in page-locked host memory (the kernel writes them there, no copy after it); ids_mirror,
// when not null, gets the ids too (on the device, for the next step's placeholders).
struct SampleOutputs {
  int32_t* ids;           // [rows]
  float* logprobs;        // [rows]
  int32_t* top_ids;       // [rows x top_stride], may be null when top_stride is 0
  float* top_logprobs;    // likewise
  int top_stride;
  int32_t* ids_mirror = nullptr; // [rows]
};
void sample_rows(float* logits, const DeviceRowSampling* params, const LogitAdjustment* adjustments, float* adjust_raw,
                 const int32_t* previous_ids, const uint32_t* masks, int mask_words, const SampleOutputs& out, int rows,
                 int vocab, cudaStream_t stream);

// A row sample_rows samples by a plain argmax of its logits: greedy, no adjustments, no token mask, no logprobs.
inline bool plain_greedy(const DeviceRowSampling& p) {
  return p.temperature < 1e-5f && p.adjust_end == p.adjust_begin && p.mask_row < 0 && p.want_logprob == 0;
}
// sample_rows for rows that are all plain_greedy, each row's argmax spread over many CTAs (one block a row reads a
// 128k row at one SM's pace: ~13.5 us at batch 1 on the H200). Writes what sample_rows writes for such rows, bit
// for bit: ids (and ids_mirror), top_ids / top_logprobs zeros, logprobs untouched. At most kGreedySplitMaxRows
// rows. scratch: greedy_split_scratch_bytes(vocab) or more, zeroed once before its first use: kGreedySplitMaxRows
// uint32 arrival counters, which each launch leaves zero again, then the CTAs' partials; launches sharing it must
// be ordered (one stream).
constexpr int kGreedySplitMaxRows = 16;
size_t greedy_split_scratch_bytes(int vocab);
void sample_rows_greedy(const float* logits, const SampleOutputs& out, int rows, int vocab, void* scratch,
                        size_t scratch_bytes, cudaStream_t stream);

} // namespace pagoda::cuda
