// Matmul. Few tokens (decode): one weight row at a time, so memory sees a single sequential
// stream (several rows at once, 2+ KiB apart, measured at less than half the bandwidth here).
// Many tokens (prefill): register tiles of NT tokens × NR rows, tokens in chunks so the
// chunk of x stays in cache while the weights stream past it.
#include "backend/cpu/matmul.h"

#include <algorithm>

#include "backend/cpu/simd.h"
#include "backend/cpu/thread_pool.h"

namespace pagoda::cpu {

namespace {

constexpr int kMaxNT = 3;          // tokens per tile: 3 x-vectors + 12 accumulators + 1 weight = 16 ymm
constexpr int kMaxNR = 4;          // weight rows per tile
constexpr int64_t kTokenChunk = 48; // tokens whose x rows stay in L2 while the weights stream
constexpr int64_t kStreamingMaxTokens = 8; // up to here, one row at a time (memory-bound)

// y[t, r] for NT tokens and NR rows starting at (x, w_row0).
template <DType D, int NT, int NR>
void tile(const float* x, int64_t k, const void* w, int64_t row0, float* y, int64_t ldy) {
  const size_t esize = dtype_size(D);
  const uint8_t* wbase = static_cast<const uint8_t*>(w) + static_cast<size_t>(row0) * k * esize;
  const void* wr[NR];
  for (int r = 0; r < NR; ++r) wr[r] = wbase + static_cast<size_t>(r) * k * esize;
  __m256 acc[NT][NR];
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm256_loadu_ps(x + t * k + i);
    for (int r = 0; r < NR; ++r) {
      const __m256 wv = load8<D>(wr[r], i);
      for (int t = 0; t < NT; ++t) acc[t][r] = _mm256_fmadd_ps(xv[t], wv, acc[t][r]);
    }
  }
  float out[NT][NR];
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) out[t][r] = hsum(acc[t][r]);
  for (; i < k; ++i) {
    for (int r = 0; r < NR; ++r) {
      const float wv = load1<D>(wr[r], i);
      for (int t = 0; t < NT; ++t) out[t][r] += x[t * k + i] * wv;
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) y[t * ldy + row0 + r] = out[t][r];
}

// One weight row against NT tokens; k unrolled by 16 with two accumulators per token so
// the FMA chains overlap.
template <DType D, int NT>
void row_dot(const float* x, int64_t k, const void* w, int64_t row, float* y, int64_t ldy) {
  const void* wr = static_cast<const uint8_t*>(w) + static_cast<size_t>(row) * k * dtype_size(D);
  __m256 acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 w0 = load8<D>(wr, i), w1 = load8<D>(wr, i + 8);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * k + i), w0, acc0[t]);
      acc1[t] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * k + i + 8), w1, acc1[t]);
    }
  }
  for (; i + 8 <= k; i += 8) {
    const __m256 w0 = load8<D>(wr, i);
    for (int t = 0; t < NT; ++t) acc0[t] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * k + i), w0, acc0[t]);
  }
  float out[NT];
  for (int t = 0; t < NT; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
  for (; i < k; ++i) {
    const float wv = load1<D>(wr, i);
    for (int t = 0; t < NT; ++t) out[t] += x[t * k + i] * wv;
  }
  for (int t = 0; t < NT; ++t) y[t * ldy + row] = out[t];
}

template <DType D>
void rows_streaming(const float* x, int64_t m, const MatrixRef& w, int64_t row_begin, int64_t row_end, float* y,
                    int64_t ldy) {
  const int64_t k = w.k;
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t t = 0; t < m; t += 4) {
      const float* xt = x + t * k;
      float* yt = y + t * ldy;
      switch (std::min<int64_t>(4, m - t)) {
      case 4: row_dot<D, 4>(xt, k, w.data, r, yt, ldy); break;
      case 3: row_dot<D, 3>(xt, k, w.data, r, yt, ldy); break;
      case 2: row_dot<D, 2>(xt, k, w.data, r, yt, ldy); break;
      default: row_dot<D, 1>(xt, k, w.data, r, yt, ldy); break;
      }
    }
  }
}

template <DType D, int NT>
void tile_rows(const float* x, int64_t k, const void* w, int64_t row0, int nr, float* y, int64_t ldy) {
  switch (nr) {
  case 4: tile<D, NT, 4>(x, k, w, row0, y, ldy); break;
  case 3: tile<D, NT, 3>(x, k, w, row0, y, ldy); break;
  case 2: tile<D, NT, 2>(x, k, w, row0, y, ldy); break;
  default: tile<D, NT, 1>(x, k, w, row0, y, ldy); break;
  }
}

template <DType D>
void rows_kernel(const float* x, int64_t m, const MatrixRef& w, int64_t row_begin, int64_t row_end, float* y,
                 int64_t ldy) {
  if (m <= kStreamingMaxTokens) {
    rows_streaming<D>(x, m, w, row_begin, row_end, y, ldy);
    return;
  }
  const int64_t k = w.k;
  for (int64_t t0 = 0; t0 < m; t0 += kTokenChunk) {
    const int64_t t_end = std::min(m, t0 + kTokenChunk);
    for (int64_t r = row_begin; r < row_end; r += kMaxNR) {
      const int nr = static_cast<int>(std::min<int64_t>(kMaxNR, row_end - r));
      for (int64_t t = t0; t < t_end; t += kMaxNT) {
        const int nt = static_cast<int>(std::min<int64_t>(kMaxNT, t_end - t));
        const float* xt = x + t * k;
        float* yt = y + t * ldy;
        if (nt == 3) tile_rows<D, 3>(xt, k, w.data, r, nr, yt, ldy);
        else if (nt == 2) tile_rows<D, 2>(xt, k, w.data, r, nr, yt, ldy);
        else tile_rows<D, 1>(xt, k, w.data, r, nr, yt, ldy);
      }
    }
  }
}

} // namespace

void matmul_rows(const float* x, int64_t m, const MatrixRef& w, int64_t row_begin, int64_t row_end, float* y,
                 int64_t ldy) {
  if (ldy <= 0) ldy = w.n;
  switch (w.dtype) {
  case DType::F32: rows_kernel<DType::F32>(x, m, w, row_begin, row_end, y, ldy); break;
  case DType::F16: rows_kernel<DType::F16>(x, m, w, row_begin, row_end, y, ldy); break;
  case DType::BF16: rows_kernel<DType::BF16>(x, m, w, row_begin, row_end, y, ldy); break;
  default: break; // quantized weights go through models/ dequantization first
  }
}

void matmul(const float* x, int64_t m, const MatrixRef& w, const float* bias, float* y, ThreadPool& pool) {
  // Split rows in multiples of 16 so each thread streams whole cache lines of its rows.
  pool.parallel_for(w.n, 16, [&](int64_t begin, int64_t end) {
    matmul_rows(x, m, w, begin, end, y);
    if (bias) {
      for (int64_t t = 0; t < m; ++t)
        for (int64_t r = begin; r < end; ++r) y[t * w.n + r] += bias[r];
    }
  });
}

void matmul_reference(const float* x, int64_t m, const MatrixRef& w, const float* bias, float* y) {
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t r = 0; r < w.n; ++r) {
      double s = 0.0;
      for (int64_t i = 0; i < w.k; ++i) s += static_cast<double>(x[t * w.k + i]) * load_any(w.dtype, w.data, r * w.k + i);
      y[t * w.n + r] = static_cast<float>(s) + (bias ? bias[r] : 0.0f);
    }
  }
}

} // namespace pagoda::cpu
