// Quantized linear weights as the CUDA kernels read them: int4 (GPTQ, AWQ) repacked at load
// into mma fragment order, fp8 e4m3 (per-channel or 128x128 blocks) kept row-major as
// published. QuantizedWeight is the device view the kernels take; HostQuantizedWeight is what
// the repack functions make from a checkpoint's tensors (on the host, once, at load).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"

namespace pagoda::cuda {

enum class QuantFormat {
  kInt4, // 4-bit codes q with a zero point z per (group, row): w = (q - z) * scale
  kFp8,  // e4m3 codes: w = f32(code) * scale
};

// k elements of one warp-wide load of an int4 or fp8 weight tile (16 rows x 64 k).
constexpr int kQuantChunk = 64;

// Where one weight row's scale for group g lives: scales[g * group_stride + (row >> row_shift) * row_stride].
//   GPTQ / AWQ: [groups][n] -> group_stride n, row_shift 0, row_stride 1
//   fp8 per-channel: [n] -> group_stride 0, row_shift 0, row_stride 1
//   fp8 128x128 blocks: [n/128][k/128] -> group_stride 1, row_shift 7, row_stride k/128
struct ScaleIndex {
  int64_t group_stride = 0;
  int row_shift = 0;
  int64_t row_stride = 1;
};

// The device view. n % 16 == 0 and k % 64 == 0; group_size is a multiple of 64 (the fp8
// formats use 128: per-channel scales repeat every group).
//   int4: packed = [n/16][k/64][32 lanes][4 words]; word s of lane (g, t) holds, for k-step s of
//     the chunk, rows g and g+8 at k = 64 c + 16 t + 4 s + {0, 1, 2, 3} as nibbles
//     0:(g,k0) 4:(g,k1) 1:(g+8,k0) 5:(g+8,k1) 2:(g,k2) 6:(g,k3) 3:(g+8,k2) 7:(g+8,k3),
//     so ((word >> 4 i) & 0x000F000F) is mma fragment register i as two integers.
//     k here is the permuted order when perm is set (GPTQ act-order): packed column j holds
//     the checkpoint's input row perm[j], so groups are contiguous runs of group_size.
//   fp8: packed = [n][k] row-major e4m3 bytes (the checkpoint's tensor as it is).
struct QuantizedWeight {
  QuantFormat format = QuantFormat::kInt4;
  int n = 0, k = 0, group_size = 128;
  const void* packed = nullptr;
  const void* scales = nullptr; // int4: __half; fp8: float
  ScaleIndex scale_index;
  const uint8_t* zeros = nullptr; // int4: [groups][n] zero points 0..15; null: 8 everywhere
  const int32_t* perm = nullptr;  // int4 act-order: [k] input row of packed column j; null: identity
  int groups() const { return k / group_size; }
};

// What a repack function makes on the host; upload() puts it on the device.
struct HostQuantizedWeight {
  QuantFormat format = QuantFormat::kInt4;
  int n = 0, k = 0, group_size = 128;
  std::vector<uint8_t> packed; // bytes of the device layout above
  std::vector<uint16_t> scales_f16;
  std::vector<float> scales_f32;
  ScaleIndex scale_index;
  std::vector<uint8_t> zeros; // empty: every zero point is 8
  std::vector<int32_t> perm;  // empty: identity
};

// GPTQ (AutoGPTQ "v1" packing, the wave2 README's formulas): qweight int32 [in/8, out]
// packed along in, qzeros int32 [in/group, out/8] (stored value = zero - 1), scales fp16
// [in/group, out], g_idx int32 [in] (null: i / group). An act-order g_idx is folded into a
// permutation of the input rows; every group must then hold exactly group_size rows.
// Throws pagoda::Error naming `tensor` for shapes or indices that do not fit.
HostQuantizedWeight repack_gptq(const std::string& tensor, const int32_t* qweight, const int32_t* qzeros,
                                const uint16_t* scales_f16, const int32_t* g_idx, int in, int out, int group_size);

// AWQ GEMM layout: qweight int32 [in, out/8] and qzeros int32 [in/group, out/8] packed along
// out in the interleaved order (column o in nibble REV[o % 8], REV = 0 4 1 5 2 6 3 7), zeros
// stored as they are, scales fp16 [in/group, out].
HostQuantizedWeight repack_awq(const std::string& tensor, const int32_t* qweight, const int32_t* qzeros,
                               const uint16_t* scales_f16, int in, int out, int group_size);

// fp8 e4m3 [out, in] with one f32 scale per output row (compressed-tensors "channel").
HostQuantizedWeight fp8_per_channel(const std::string& tensor, const uint8_t* weight, const float* scale, int out,
                                    int in);
// fp8 e4m3 [out, in] with f32 scale_inv [ceil(out/128), ceil(in/128)] (Qwen3-FP8 / DeepSeek).
HostQuantizedWeight fp8_block128(const std::string& tensor, const uint8_t* weight, const float* scale_inv, int out,
                                 int in);

// The parts of a fused linear (q, k, v; gate, up) stacked along the output as one weight,
// or nothing when they cannot share one (different formats, group sizes or act-order
// permutations; fp8 block parts whose rows are not whole 128-row blocks).
std::optional<HostQuantizedWeight> concat_rows(const std::vector<HostQuantizedWeight>& parts);

// A fused int4 or fp8 per-channel gate_up weight (gate rows 0..n/2-1, then up rows; n % 16 == 0) with its rows
// interleaved by 8: row 16b + j is gate row 8b + j and row 16b + 8 + j up row 8b + j (j < 8), so one
// 16-row tile (one CTA of the decode kernel) holds matching gate and up rows (quant_gemm_silu) and any
// GEMM on it writes gate_up's columns in that order (silu_mul_interleaved). Scales and zero points
// follow their rows; the act-order permutation (input side) stays. Throws for fp8 blocks (their 128-row
// scale blocks would split) or an odd shape.
HostQuantizedWeight interleave_gate_up_rows(const HostQuantizedWeight& w);

// The dequantized weight w[o, i] (float, [out][in], the checkpoint's input order): the
// reference the kernels are checked against, and the CPU's view of a repacked weight.
std::vector<float> dequantize_on_host(const HostQuantizedWeight& w);

// Device copy of a HostQuantizedWeight; view() is what the kernels take.
class DeviceQuantizedWeight {
public:
  DeviceQuantizedWeight() = default;
  explicit DeviceQuantizedWeight(const HostQuantizedWeight& host);
  const QuantizedWeight& view() const { return view_; }
  // Bytes a GEMM reads from DRAM for this weight (codes, scales, zeros, permutation).
  size_t bytes() const { return packed_.bytes() + scales_.bytes() + zeros_.bytes() + perm_.bytes(); }

private:
  DeviceBuffer packed_, scales_, zeros_, perm_;
  QuantizedWeight view_;
};

} // namespace pagoda::cuda
