// The host reference of fp8_mma_gemm (W8A8 fp8, m <= 8), shared by its GPU test and its host emulation test:
// fake_quantize_fp8_rows' codes and scales written independently, y in float64 from the same codes and scales, the
// test inputs (outlier rows, a zero row) and the error bound a result must meet.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"
#include "quant_checkpoints.h"

namespace pagoda::cuda::test {

// fake_quantize_fp8_rows' codes and scales of x [m][k] (group = k: per token), written independently here.
inline void ref_codes(const std::vector<float>& x, int m, int k, int group, std::vector<uint8_t>& q, std::vector<float>& s) {
  q.assign(size_t(m) * k, 0);
  s.assign(size_t(m) * (k / group), 0.f);
  for (int r = 0; r < m; ++r)
    for (int gi = 0; gi < k / group; ++gi) {
      float amax = 0.f;
      for (int i = 0; i < group; ++i) amax = std::max(amax, std::fabs(x[size_t(r) * k + gi * group + i]));
      const float sc = std::max(amax, 1e-12f) / 448.f;
      s[size_t(r) * (k / group) + gi] = sc;
      for (int i = 0; i < group; ++i) {
        const float v = std::min(std::max(x[size_t(r) * k + gi * group + i] / sc, -448.f), 448.f);
        q[size_t(r) * k + gi * group + i] = e4m3_code(v);
      }
    }
}

inline float weight_scale(const Fp8& w, int row, int col) {
  return w.block ? w.scale[size_t(row / 128) * (w.in / 128) + col / 128] : w.scale[row];
}

// y_ref [m][n] in float64 and the sum of |terms| a row and column (the accumulation's error scale).
inline void reference(const Fp8& w, const std::vector<uint8_t>& qx, const std::vector<float>& sx, int m, int group,
               std::vector<double>& ref, std::vector<double>& mag) {
  const int n = w.out, k = w.in;
  std::vector<double> wv(size_t(n) * k), xv(size_t(m) * k);
  for (int o = 0; o < n; ++o)
    for (int i = 0; i < k; ++i) wv[size_t(o) * k + i] = double(e4m3_value(w.weight[size_t(o) * k + i])) * weight_scale(w, o, i);
  for (int r = 0; r < m; ++r)
    for (int i = 0; i < k; ++i) xv[size_t(r) * k + i] = double(e4m3_value(qx[size_t(r) * k + i])) * sx[size_t(r) * (k / group) + i / group];
  ref.assign(size_t(m) * n, 0.0);
  mag.assign(size_t(m) * n, 0.0);
  for (int r = 0; r < m; ++r)
    for (int o = 0; o < n; ++o) {
      double acc = 0, a = 0;
      const double* wr = &wv[size_t(o) * k];
      const double* xr = &xv[size_t(r) * k];
      for (int i = 0; i < k; ++i) {
        const double t = wr[i] * xr[i];
        acc += t;
        a += std::fabs(t);
      }
      ref[size_t(r) * n + o] = acc;
      mag[size_t(r) * n + o] = a;
    }
}

// x [m][k]: uniform values a row scaled by 10^(r % 3 - 1), a few outliers x 60, row 2 all zeros (m > 2).
inline std::vector<float> make_x(int m, int k, std::mt19937& rng) {
  std::vector<float> x = random_bf16_values(size_t(m) * k, rng);
  std::uniform_int_distribution<int> col(0, k - 1);
  for (int r = 0; r < m; ++r) {
    const float scale = std::pow(10.f, float(r % 3 - 1));
    for (int i = 0; i < k; ++i) x[size_t(r) * k + i] = round_bf16(x[size_t(r) * k + i] * scale);
    for (int o = 0; o < 3; ++o) {
      const size_t i = size_t(r) * k + col(rng);
      x[i] = round_bf16(x[i] * 60.f);
    }
    if (r == 2)
      for (int i = 0; i < k; ++i) x[size_t(r) * k + i] = 0.f;
  }
  return x;
}

// The kernel's output y (rows ldy apart, columns [off, off + n)) against ref: |y - ref| <= 2^-7 |ref| (twice bf16's
// rounding, which reaches 2^-8 relative) + 2^-11 mag (the f32 / tensor-core accumulation, mag = sum of |terms|).
// Returns the worst error / limit.
inline double worst_ratio(const std::vector<float>& y, int ldy, int off, const std::vector<double>& ref,
                   const std::vector<double>& mag, int m, int n, int* bad) {
  double worst = 0;
  *bad = 0;
  for (int r = 0; r < m; ++r)
    for (int o = 0; o < n; ++o) {
      const double v = y[size_t(r) * ldy + off + o], e = ref[size_t(r) * n + o];
      const double limit = std::ldexp(std::fabs(e), -7) + std::ldexp(mag[size_t(r) * n + o], -11) + 1e-30;
      const double ratio = std::isfinite(v) ? std::fabs(v - e) / limit : 1e9;
      if (std::getenv("FP8MMA_DEBUG") && ratio > worst)
        std::printf("  debug r %d o %d y %.9g ref %.9g mag %.9g ratio %.3f\n", r, o, v, e, mag[size_t(r) * n + o], ratio);
      worst = std::max(worst, ratio);
      *bad += ratio > 1.0;
    }
  return worst;
}

// A weight whose row i holds code 1.0 (0x38) at column i, scales 1: y[r][i] = bf16(code_x[r][i] * sx), so every x
// code and scale the kernel made is read back exactly.
// Elements of y (rows x ldy bf16 bits, poisoned 0xFFFF before the call) the GEMM changed outside its m x n output.
inline size_t written_outside(const std::vector<uint16_t>& y, int rows, int ldy, int m, int n) {
  size_t touched = 0;
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < ldy; ++o) touched += (r >= m || o >= n) && y[size_t(r) * ldy + o] != 0xFFFF;
  return touched;
}

inline Fp8 identity_weight(int k, bool block) {
  Fp8 w{k, k, block, {}, {}, {}};
  w.weight.assign(size_t(k) * k, 0);
  for (int i = 0; i < k; ++i) w.weight[size_t(i) * k + i] = 0x38;
  w.scale.assign(block ? size_t(k / 128) * (k / 128) : size_t(k), 1.f);
  return w;
}

// Plants, in every row of x [m][k], values whose e4m3 codes are zeros of both signs: -0.0 and -/+ (max |x| of the
// column's 128-group) x 2^-30 (x / s <= 448 x 2^-30, far below e4m3's rounding threshold 2^-10, for either activation
// grouping), at columns that move with the row; only -0.0 in an all-zero group (a tiny value would become its max).
// fp8_mma_gemm_test's identity check met one such code by chance on the H200 (x = -4.47e-6 in a row of max 39: code
// 0x80); planted, every identity check meets them.
inline void plant_zero_codes(std::vector<float>& x, int m, int k) {
  for (int r = 0; r < m; ++r) {
    const int cols[3] = {(r * 67 + 3) % k, (r * 67 + 5) % k, (r * 67 + 7) % k};
    x[size_t(r) * k + cols[0]] = -0.0f;
    for (int j = 1; j < 3; ++j) {
      const int c = cols[j], g0 = c / 128 * 128;
      float gmax = 0.f;
      for (int i = g0; i < std::min(g0 + 128, k); ++i) gmax = std::max(gmax, std::fabs(x[size_t(r) * k + i]));
      if (gmax > 0.f) x[size_t(r) * k + c] = round_bf16(std::ldexp(gmax, -30) * (j == 1 ? -1.f : 1.f));
    }
  }
}

// The identity weight's read-back check: y (bf16 bits [m][ldy]) against bf16(code_x * sx) for every element, compared
// as values, so a zero of either sign matches a zero. Why not as bits: a -0 code (0x80) reads back as +0, because y
// is a sum of products that starts from a +0 accumulator and IEEE rounds (+0) + (-0) to +0 (the float64 reference
// does the same); the sign of a code's zero is not something the GEMM can keep. Returns the mismatches, describes
// the first in *first and counts the -0 codes met in *neg_zero (a check that means it asserts it met some).
inline size_t identity_mismatches(const std::vector<uint16_t>& y, int ldy, const std::vector<uint8_t>& q,
                                  const std::vector<float>& s, int m, int k, int group, std::string* first,
                                  size_t* neg_zero) {
  size_t wrong = 0;
  *neg_zero = 0;
  first->clear();
  for (int r = 0; r < m; ++r)
    for (int i = 0; i < k; ++i) {
      const uint8_t code = q[size_t(r) * k + i];
      *neg_zero += code == 0x80;
      const float e = round_bf16(e4m3_value(code) * s[size_t(r) * (k / group) + i / group]);
      const uint32_t bits = uint32_t(y[size_t(r) * ldy + i]) << 16;
      float v;
      std::memcpy(&v, &bits, 4);
      if (v == e) continue; // NaN never matches
      if (wrong++ == 0) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "; first: row %d column %d code 0x%02x expected %.9g got %.9g (bits 0x%04x)", r,
                      i, unsigned(code), double(e), double(v), unsigned(y[size_t(r) * ldy + i]));
        *first = buf;
      }
    }
  return wrong;
}

// fake_quantize_fp8_rows' output on the host: bf16(e4m3(x / s) * s) (quant_gemm_test checks the GPU's against it).
inline std::vector<float> fake_quantized(const std::vector<float>& x, int m, int k, int group) {
  std::vector<uint8_t> q;
  std::vector<float> s;
  ref_codes(x, m, k, group, q, s);
  std::vector<float> out(x.size());
  for (int r = 0; r < m; ++r)
    for (int i = 0; i < k; ++i)
      out[size_t(r) * k + i] = round_bf16(e4m3_value(q[size_t(r) * k + i]) * s[size_t(r) * (k / group) + i / group]);
  return out;
}

} // namespace pagoda::cuda::test
