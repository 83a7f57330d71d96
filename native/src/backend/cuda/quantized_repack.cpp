// Load-time conversion of GPTQ / AWQ / fp8 checkpoint tensors into the layouts the CUDA
// quantized GEMMs read (quantized_weight.h), their host dequantization (the reference), and
// the upload. Shapes and indices are checked here, so a bad checkpoint fails at load with the
// tensor's name rather than inside a kernel.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <thread>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/quantized_weight.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

[[noreturn]] void fail(const std::string& tensor, const std::string& why) {
  throw Error("quantized weight " + tensor + ": " + why);
}

void check_tile_shape(const std::string& tensor, int in, int out, int group_size) {
  if (in <= 0 || out <= 0) fail(tensor, "empty shape");
  if (out % 16 != 0) fail(tensor, "output features " + std::to_string(out) + " are not a multiple of 16");
  if (in % kQuantChunk != 0) fail(tensor, "input features " + std::to_string(in) + " are not a multiple of 64");
  if (group_size <= 0 || group_size % kQuantChunk != 0 || in % group_size != 0)
    fail(tensor, "group size " + std::to_string(group_size) + " must be a multiple of 64 dividing the input features " +
                     std::to_string(in));
}

uint32_t nibble(int32_t word, int index) { return (static_cast<uint32_t>(word) >> (4 * index)) & 0xFu; }

// Packs q(row, column) (0..15; column in packed order) into the fragment-ordered tiles.
template <typename Q> std::vector<uint8_t> pack_int4_tiles(int n, int k, Q q) {
  const int tiles = n / 16, chunks = k / kQuantChunk;
  std::vector<uint32_t> words(size_t(n) * k / 8);
  // Nibble position of each (row half, k offset 0..3) in a word: see quantized_weight.h.
  static constexpr int kPos[2][4] = {{0, 4, 2, 6}, {1, 5, 3, 7}};
  // Billions of nibbles for a 7B model: tiles are split over the host's threads.
  auto pack_tiles = [&](int tile_begin, int tile_end) {
    for (int tile = tile_begin; tile < tile_end; ++tile)
      for (int c = 0; c < chunks; ++c)
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane / 4, t = lane % 4;
          for (int s = 0; s < 4; ++s) {
            uint32_t word = 0;
            for (int half = 0; half < 2; ++half)
              for (int e = 0; e < 4; ++e) {
                const uint32_t v = q(tile * 16 + g + 8 * half, c * kQuantChunk + 16 * t + 4 * s + e);
                word |= (v & 0xFu) << (4 * kPos[half][e]);
              }
            words[((size_t(tile) * chunks + c) * 32 + lane) * 4 + s] = word;
          }
        }
  };
  const int threads = static_cast<int>(std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                                        size_t(tiles) * chunks / 4096 + 1));
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back(pack_tiles, int(int64_t(tiles) * i / threads), int(int64_t(tiles) * (i + 1) / threads));
  for (std::thread& th : pool) th.join();
  std::vector<uint8_t> bytes(words.size() * 4);
  std::memcpy(bytes.data(), words.data(), bytes.size());
  return bytes;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

float e4m3_to_f32(uint8_t c) {
  const int e = (c >> 3) & 15, m = c & 7;
  float v = e == 0 ? std::ldexp(static_cast<float>(m), -9) : std::ldexp(1.f + m / 8.f, e - 7);
  if ((c & 0x7F) == 0x7F) v = NAN;
  return (c & 0x80) ? -v : v;
}

void check_scales(const std::string& tensor, const std::vector<float>& scales) {
  for (float s : scales)
    if (!std::isfinite(s) || s < 0.f) fail(tensor, "a scale is negative or not finite");
}

void check_fp8_codes(const std::string& tensor, const uint8_t* w, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if ((w[i] & 0x7F) == 0x7F) fail(tensor, "holds an e4m3 NaN code at element " + std::to_string(i));
}

// A weight of `format` with its tile shape checked and the fields every repack sets first filled in.
HostQuantizedWeight shaped_weight(const std::string& tensor, QuantFormat format, int in, int out, int group_size) {
  check_tile_shape(tensor, in, out, group_size);
  HostQuantizedWeight w;
  w.format = format;
  w.n = out;
  w.k = in;
  w.group_size = group_size;
  return w;
}

void check_f16_scales(const std::string& tensor, const std::vector<uint16_t>& scales_f16) {
  std::vector<float> f(scales_f16.size());
  std::transform(scales_f16.begin(), scales_f16.end(), f.begin(), f16_to_f32);
  check_scales(tensor, f);
}

// An fp8 checkpoint's row-major e4m3 codes, checked, in 128-wide groups (the kernels' fp8 group); the scales
// are the caller's.
HostQuantizedWeight fp8_weight(const std::string& tensor, const uint8_t* weight, int out, int in) {
  if (in % 128 != 0) fail(tensor, "input features " + std::to_string(in) + " are not a multiple of 128");
  HostQuantizedWeight w = shaped_weight(tensor, QuantFormat::kFp8, in, out, 128);
  check_fp8_codes(tensor, weight, size_t(out) * in);
  w.packed.assign(weight, weight + size_t(out) * in);
  return w;
}

} // namespace

HostQuantizedWeight repack_gptq(const std::string& tensor, const int32_t* qweight, const int32_t* qzeros,
                                const uint16_t* scales_f16, const int32_t* g_idx, int in, int out, int group_size) {
  HostQuantizedWeight w = shaped_weight(tensor, QuantFormat::kInt4, in, out, group_size);
  const int groups = in / group_size;
  // Act-order: sort the input rows by group (stable) so each group is a contiguous run.
  bool identity = true;
  if (g_idx != nullptr) {
    std::vector<int> count(size_t(groups), 0);
    for (int i = 0; i < in; ++i) {
      if (g_idx[i] < 0 || g_idx[i] >= groups)
        fail(tensor, "g_idx[" + std::to_string(i) + "] = " + std::to_string(g_idx[i]) + " is outside 0.." +
                         std::to_string(groups - 1));
      ++count[size_t(g_idx[i])];
      if (g_idx[i] != i / group_size) identity = false;
    }
    for (int g = 0; g < groups; ++g)
      if (count[size_t(g)] != group_size)
        fail(tensor, "g_idx gives group " + std::to_string(g) + " " + std::to_string(count[size_t(g)]) +
                         " rows, not the group size " + std::to_string(group_size));
  }
  if (!identity) {
    w.perm.resize(size_t(in));
    std::iota(w.perm.begin(), w.perm.end(), 0);
    std::stable_sort(w.perm.begin(), w.perm.end(), [&](int a, int b) { return g_idx[a] < g_idx[b]; });
  }
  const int32_t* perm = w.perm.empty() ? nullptr : w.perm.data();
  w.packed = pack_int4_tiles(out, in, [&](int o, int j) {
    const int i = perm ? perm[j] : j;
    return nibble(qweight[size_t(i / 8) * out + o], i % 8);
  });
  w.scales_f16.assign(scales_f16, scales_f16 + size_t(groups) * out);
  w.scale_index = {out, 0, 1};
  w.zeros.resize(size_t(groups) * out);
  bool all_eight = true;
  for (int g = 0; g < groups; ++g)
    for (int o = 0; o < out; ++o) {
      const uint32_t z = nibble(qzeros[size_t(g) * (out / 8) + o / 8], o % 8) + 1; // stored as zero - 1
      w.zeros[size_t(g) * out + o] = static_cast<uint8_t>(z);
      all_eight = all_eight && z == 8;
    }
  if (all_eight) w.zeros.clear();
  check_f16_scales(tensor + ".scales", w.scales_f16);
  return w;
}

HostQuantizedWeight repack_awq(const std::string& tensor, const int32_t* qweight, const int32_t* qzeros,
                               const uint16_t* scales_f16, int in, int out, int group_size) {
  HostQuantizedWeight w = shaped_weight(tensor, QuantFormat::kInt4, in, out, group_size);
  static constexpr int kRev[8] = {0, 4, 1, 5, 2, 6, 3, 7}; // nibble of column o % 8
  const int groups = in / group_size;
  w.packed = pack_int4_tiles(out, in, [&](int o, int i) {
    return nibble(qweight[size_t(i) * (out / 8) + o / 8], kRev[o % 8]);
  });
  w.scales_f16.assign(scales_f16, scales_f16 + size_t(groups) * out);
  w.scale_index = {out, 0, 1};
  w.zeros.resize(size_t(groups) * out);
  for (int g = 0; g < groups; ++g)
    for (int o = 0; o < out; ++o)
      w.zeros[size_t(g) * out + o] = static_cast<uint8_t>(nibble(qzeros[size_t(g) * (out / 8) + o / 8], kRev[o % 8]));
  check_f16_scales(tensor + ".scales", w.scales_f16);
  return w;
}

HostQuantizedWeight fp8_per_channel(const std::string& tensor, const uint8_t* weight, const float* scale, int out,
                                    int in) {
  HostQuantizedWeight w = fp8_weight(tensor, weight, out, in); // a per-channel scale repeats in each group
  w.scales_f32.assign(scale, scale + out);
  w.scale_index = {0, 0, 1};
  check_scales(tensor + ".weight_scale", w.scales_f32);
  return w;
}

HostQuantizedWeight fp8_block128(const std::string& tensor, const uint8_t* weight, const float* scale_inv, int out,
                                 int in) {
  HostQuantizedWeight w = fp8_weight(tensor, weight, out, in);
  const int row_blocks = (out + 127) / 128, col_blocks = in / 128;
  w.scales_f32.assign(scale_inv, scale_inv + size_t(row_blocks) * col_blocks);
  w.scale_index = {1, 7, col_blocks};
  check_scales(tensor + ".weight_scale_inv", w.scales_f32);
  return w;
}

std::optional<HostQuantizedWeight> concat_rows(const std::vector<HostQuantizedWeight>& parts) {
  if (parts.empty()) return std::nullopt;
  if (parts.size() == 1) return parts.front();
  const HostQuantizedWeight& first = parts.front();
  const bool block = first.format == QuantFormat::kFp8 && first.scale_index.row_shift != 0;
  for (const HostQuantizedWeight& p : parts) {
    if (p.format != first.format || p.k != first.k || p.group_size != first.group_size || p.perm != first.perm ||
        p.scale_index.row_shift != first.scale_index.row_shift)
      return std::nullopt;
    if (block && p.n % 128 != 0) return std::nullopt;
  }
  HostQuantizedWeight w;
  w.format = first.format;
  w.k = first.k;
  w.group_size = first.group_size;
  w.perm = first.perm;
  w.scale_index = first.scale_index;
  for (const HostQuantizedWeight& p : parts) {
    w.n += p.n;
    w.packed.insert(w.packed.end(), p.packed.begin(), p.packed.end()); // tile-major or row-major: rows stack
  }
  if (first.format == QuantFormat::kInt4) {
    const int groups = first.k / first.group_size;
    const bool any_zeros = std::any_of(parts.begin(), parts.end(), [](const auto& p) { return !p.zeros.empty(); });
    for (int g = 0; g < groups; ++g)
      for (const HostQuantizedWeight& p : parts) {
        w.scales_f16.insert(w.scales_f16.end(), p.scales_f16.begin() + size_t(g) * p.n,
                            p.scales_f16.begin() + size_t(g + 1) * p.n);
        if (!any_zeros) continue;
        if (p.zeros.empty()) w.zeros.insert(w.zeros.end(), size_t(p.n), uint8_t{8});
        else w.zeros.insert(w.zeros.end(), p.zeros.begin() + size_t(g) * p.n, p.zeros.begin() + size_t(g + 1) * p.n);
      }
    w.scale_index.group_stride = w.n;
  } else {
    // Per-channel [n] and block [n/128][k/128] scales both stack along the rows.
    for (const HostQuantizedWeight& p : parts) w.scales_f32.insert(w.scales_f32.end(), p.scales_f32.begin(), p.scales_f32.end());
  }
  return w;
}

HostQuantizedWeight interleave_gate_up_rows(const HostQuantizedWeight& w) {
  const bool fp8 = w.format == QuantFormat::kFp8;
  const bool per_row_scales = fp8 ? w.scale_index.group_stride == 0 : w.scale_index.group_stride == w.n;
  if (w.n % 16 != 0 || !per_row_scales || w.scale_index.row_shift != 0 || w.scale_index.row_stride != 1)
    throw Error("interleave_gate_up_rows: an int4 or fp8 per-channel weight with rows a multiple of 16 (n " +
                std::to_string(w.n) + ")");
  const int half = w.n / 2, tiles = w.n / 16, chunks = w.k / kQuantChunk;
  // Source row of interleaved row o.
  auto source = [&](int o) { return (o % 16 < 8 ? 0 : half) + (o / 16) * 8 + o % 8; };
  HostQuantizedWeight out = w;
  if (fp8) { // e4m3 rows [n][k] and one scale a row: whole rows move
    for (int o = 0; o < w.n; ++o) {
      std::copy_n(w.packed.begin() + size_t(source(o)) * w.k, w.k, out.packed.begin() + size_t(o) * w.k);
      out.scales_f32[o] = w.scales_f32[source(o)];
    }
    return out;
  }
  // An 8-row block of the source (half % 8 == 0) is one half of a tile: nibbles 0 2 4 6 of each word
  // (rows g) or 1 3 5 7 (rows g + 8), at the same chunk, lane and word; so each interleaved word is
  // two source half-words, shifted into place.
  const auto* src = reinterpret_cast<const uint32_t*>(w.packed.data());
  auto* dst = reinterpret_cast<uint32_t*>(out.packed.data());
  const size_t tile_words = size_t(chunks) * 32 * 4;
  for (int tile = 0; tile < tiles; ++tile) {
    const int gate = source(tile * 16), up = source(tile * 16 + 8);
    const uint32_t* sg = src + size_t(gate / 16) * tile_words;
    const uint32_t* su = src + size_t(up / 16) * tile_words;
    const bool gate_hi = gate % 16 != 0, up_hi = up % 16 != 0;
    uint32_t* d = dst + size_t(tile) * tile_words;
    for (size_t i = 0; i < tile_words; ++i) {
      const uint32_t lo = gate_hi ? (sg[i] >> 4) & 0x0F0F0F0Fu : sg[i] & 0x0F0F0F0Fu;
      const uint32_t hi = up_hi ? su[i] & 0xF0F0F0F0u : (su[i] << 4) & 0xF0F0F0F0u;
      d[i] = lo | hi;
    }
  }
  const int groups = w.k / w.group_size;
  for (int g = 0; g < groups; ++g)
    for (int o = 0; o < w.n; ++o) {
      const size_t to = size_t(g) * w.n + o, from = size_t(g) * w.n + source(o);
      out.scales_f16[to] = w.scales_f16[from];
      if (!w.zeros.empty()) out.zeros[to] = w.zeros[from];
    }
  return out;
}

std::vector<float> dequantize_on_host(const HostQuantizedWeight& w) {
  std::vector<float> out(size_t(w.n) * w.k);
  auto scale = [&](int g, int o) {
    const size_t idx = size_t(g) * w.scale_index.group_stride + size_t(o >> w.scale_index.row_shift) * w.scale_index.row_stride;
    return w.format == QuantFormat::kInt4 ? f16_to_f32(w.scales_f16[idx]) : w.scales_f32[idx];
  };
  if (w.format == QuantFormat::kFp8) {
    for (int o = 0; o < w.n; ++o)
      for (int i = 0; i < w.k; ++i)
        out[size_t(o) * w.k + i] = e4m3_to_f32(w.packed[size_t(o) * w.k + i]) * scale(i / w.group_size, o);
    return out;
  }
  const uint32_t* words = reinterpret_cast<const uint32_t*>(w.packed.data());
  static constexpr int kPos[2][4] = {{0, 4, 2, 6}, {1, 5, 3, 7}};
  const int chunks = w.k / kQuantChunk;
  for (int tile = 0; tile < w.n / 16; ++tile)
    for (int c = 0; c < chunks; ++c)
      for (int lane = 0; lane < 32; ++lane)
        for (int s = 0; s < 4; ++s) {
          const uint32_t word = words[((size_t(tile) * chunks + c) * 32 + lane) * 4 + s];
          for (int half = 0; half < 2; ++half)
            for (int e = 0; e < 4; ++e) {
              const int o = tile * 16 + lane / 4 + 8 * half;
              const int j = c * kQuantChunk + 16 * (lane % 4) + 4 * s + e;
              const int g = j / w.group_size;
              const int q = static_cast<int>((word >> (4 * kPos[half][e])) & 0xFu);
              const int z = w.zeros.empty() ? 8 : w.zeros[size_t(g) * w.n + o];
              const int i = w.perm.empty() ? j : w.perm[size_t(j)];
              out[size_t(o) * w.k + i] = static_cast<float>(q - z) * scale(g, o);
            }
        }
  return out;
}

namespace {
template <typename T> DeviceBuffer upload_vector(const std::vector<T>& v) {
  DeviceBuffer buf(v.size() * sizeof(T));
  if (!v.empty()) PAGODA_CUDA_CHECK(cudaMemcpy(buf.data(), v.data(), buf.bytes(), cudaMemcpyHostToDevice));
  return buf;
}
} // namespace

DeviceQuantizedWeight::DeviceQuantizedWeight(const HostQuantizedWeight& host)
    : packed_(upload_vector(host.packed)),
      scales_(host.format == QuantFormat::kInt4 ? upload_vector(host.scales_f16) : upload_vector(host.scales_f32)),
      zeros_(upload_vector(host.zeros)), perm_(upload_vector(host.perm)) {
  view_.format = host.format;
  view_.n = host.n;
  view_.k = host.k;
  view_.group_size = host.group_size;
  view_.packed = packed_.data();
  view_.scales = scales_.data();
  view_.scale_index = host.scale_index;
  view_.zeros = host.zeros.empty() ? nullptr : zeros_.as<uint8_t>();
  view_.perm = host.perm.empty() ? nullptr : perm_.as<int32_t>();
}

} // namespace pagoda::cuda
