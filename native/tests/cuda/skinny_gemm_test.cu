// Checks the decode GEMM (skinny_gemm) against the CPU reference for every row count it
// serves (1..16), widths that leave partial 16-row tiles, k that leaves partial 32-wide chunks
// and partial k slices, both output types, accumulation into y, and no writes past y; and
// skinny_gemm_silu (gate_up + SiLU·mul in one kernel on rows interleaved by 8) against the pair it replaces,
// and skinny_gemm_qkv_rope (qkv + RoPE + KV cache write in one kernel) against the kernels it replaces.
#include <algorithm>
#include <cmath>

#include "backend/cuda/kernels.h"
#include "qkv_rope_check.h"
#include "test_support.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr size_t kGuard = 64; // poisoned elements after y that must stay untouched

// True when every byte of the guard region after `elems` elements of `elem_bytes` is still 0xFF.
bool guard_intact(const DeviceBuffer& buf, size_t elems, size_t elem_bytes) {
  const auto bytes = download<uint8_t>(buf, (elems + kGuard) * elem_bytes);
  for (size_t i = elems * elem_bytes; i < bytes.size(); ++i)
    if (bytes[i] != 0xFF) return false;
  return true;
}

} // namespace

int main() {
  skip_without_device("skinny_gemm_test");
  std::mt19937 rng(99);
  Checker c;
  try {
    struct Shape { int n, k; };
    // 1000 x 4096: n % 16 = 8; 4104 x 520: k % 32 = 8; 33 x 64: fewer chunks than warps;
    // 1001 x 4104, 37 x 200, 23 x 8: n odd, k = 8 x odd (a lane-partial last chunk).
    const Shape shapes[] = {{1000, 4096}, {4104, 520}, {33, 64}, {1001, 4104}, {37, 200}, {23, 8}};
    for (const Shape& s : shapes) {
      // Rows are independent: one reference for 16 input rows serves every m as its prefix.
      const int max_m = kSkinnyGemmMaxRows;
      const auto x_all = random_bf16_values(size_t(max_m) * s.k, rng);
      const auto w = random_bf16_values(size_t(s.n) * s.k, rng, 0.05f);
      const auto ref_all = ref_linear(x_all, w, max_m, s.n, s.k);
      auto d_w = upload_bf16(w);
      for (int m = 1; m <= max_m; ++m) {
        const std::vector<float> x(x_all.begin(), x_all.begin() + size_t(m) * s.k);
        const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * s.n);
        auto d_x = upload_bf16(x);
        DeviceBuffer d_y16((ref.size() + kGuard) * 2), d_y32((ref.size() + kGuard) * 4);
        poison(d_y16);
        poison(d_y32);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y16.data(), false, m, s.n, s.k, 0.f, 0);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), true, m, s.n, s.k, 0.f, 0);
        const std::string shape = "m " + std::to_string(m) + " n " + std::to_string(s.n) + " k " + std::to_string(s.k);
        c.expect("skinny_gemm bf16 out " + shape, compare(download_bf16(d_y16, ref.size()), ref), 6e-3, 5e-2);
        c.expect("skinny_gemm f32 out " + shape, compare(download<float>(d_y32, ref.size()), ref), 1e-5, 1e-4);
        std::vector<double> twice(ref);
        for (double& v : twice) v *= 2;
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), true, m, s.n, s.k, 1.f, 0);
        c.expect("skinny_gemm f32 accumulate " + shape, compare(download<float>(d_y32, ref.size()), twice), 1e-5, 2e-4);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y16.data(), false, m, s.n, s.k, 1.f, 0);
        c.expect("skinny_gemm bf16 accumulate " + shape, compare(download_bf16(d_y16, ref.size()), twice), 6e-3, 1e-1);
        c.expect_true("skinny_gemm writes nothing past y " + shape,
                      guard_intact(d_y16, ref.size(), 2) && guard_intact(d_y32, ref.size(), 4));
      }
    }
    // skinny_gemm_silu (PAGODA_FUSED_SILU): gate_up on rows interleaved by 8 with SiLU·mul in the
    // epilogue must equal skinny_gemm on the plain weight + silu_mul bit for bit, and the float64
    // silu(x·gate) * (x·up) within bf16 rounding; the interleaved GEMM output + silu_mul_interleaved too.
    struct SiluShape { int inter, k; };
    for (const SiluShape& s : {SiluShape{1000, 4096}, SiluShape{64, 520}, SiluShape{8, 8}, SiluShape{136, 200}}) {
      const int max_m = kSkinnyGemmMaxRows, n = 2 * s.inter;
      const auto x_all = random_bf16_values(size_t(max_m) * s.k, rng);
      const auto w = random_bf16_values(size_t(n) * s.k, rng, 0.05f);
      const auto lin = ref_linear(x_all, w, max_m, n, s.k);
      auto d_plain = upload_bf16(w), d_inter = upload_bf16(w);
      DeviceBuffer scratch(size_t(n) * s.k * 2);
      interleave_gate_up_rows(d_inter.as<bf16>(), s.inter, s.k, scratch.data(), 0);
      const auto w_inter = download_bf16(d_inter, size_t(n) * s.k);
      bool order = true; // row 16b + j: gate row 8b + j; row 16b + 8 + j: up row 8b + j
      for (int r = 0; r < n && order; ++r) {
        const int b = r / 16, j = r % 16, src = j < 8 ? 8 * b + j : s.inter + 8 * b + j - 8;
        order = std::equal(w_inter.begin() + size_t(r) * s.k, w_inter.begin() + size_t(r + 1) * s.k,
                           w.begin() + size_t(src) * s.k);
      }
      const std::string base = "intermediate " + std::to_string(s.inter) + " k " + std::to_string(s.k);
      c.expect_true("interleave_gate_up_rows puts gate rows 8b.. at 16b.. and up rows beside them " + base, order);
      for (int m = 1; m <= max_m; ++m) {
        const std::vector<float> x(x_all.begin(), x_all.begin() + size_t(m) * s.k);
        std::vector<double> ref(size_t(m) * s.inter);
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < s.inter; ++j) {
            const double g = lin[size_t(i) * n + j], u = lin[size_t(i) * n + s.inter + j];
            ref[size_t(i) * s.inter + j] = g / (1 + std::exp(-g)) * u;
          }
        auto d_x = upload_bf16(x);
        DeviceBuffer gate_up(size_t(m) * n * 2), want((ref.size() + kGuard) * 2), got((ref.size() + kGuard) * 2),
            got2((ref.size() + kGuard) * 2);
        skinny_gemm(d_x.as<bf16>(), d_plain.as<bf16>(), gate_up.data(), false, m, n, s.k, 0.f, 0);
        silu_mul(gate_up.as<bf16>(), want.as<bf16>(), m, s.inter, 0);
        poison(got);
        skinny_gemm_silu(d_x.as<bf16>(), d_inter.as<bf16>(), got.as<bf16>(), m, s.inter, s.k, 0);
        skinny_gemm(d_x.as<bf16>(), d_inter.as<bf16>(), gate_up.data(), false, m, n, s.k, 0.f, 0);
        silu_mul_interleaved(gate_up.as<bf16>(), got2.as<bf16>(), m, s.inter, 0);
        const auto w16 = download<uint16_t>(want, ref.size()), g16 = download<uint16_t>(got, ref.size()),
                   g2 = download<uint16_t>(got2, ref.size());
        const std::string shape = "m " + std::to_string(m) + " " + base;
        c.expect_true("skinny_gemm_silu equals skinny_gemm + silu_mul bit for bit " + shape, w16 == g16);
        c.expect_true("interleaved skinny_gemm + silu_mul_interleaved equals the plain pair bit for bit " + shape,
                      w16 == g2);
        c.expect("skinny_gemm_silu against float64 silu(x gate) * (x up) " + shape,
                 compare(download_bf16(got, ref.size()), ref), 1e-2, 5e-2);
        c.expect_true("skinny_gemm_silu writes nothing past its output " + shape, guard_intact(got, ref.size(), 2));
      }
    }
    // skinny_gemm_qkv_rope against the pair it replaces (qkv_rope_check.h): every head size class, GQA and MHA.
    struct QkvShape { QkvHeads heads; int k; };
    const QkvShape qkv_shapes[] = {{{4, 2, 128}, 520}, {{8, 8, 64}, 256}, {{2, 1, 32}, 64}, {{3, 1, 80}, 136}, {{2, 2, 256}, 72}};
    for (const QkvShape& s : qkv_shapes) {
      const int n = s.heads.n();
      auto d_w = upload_bf16(random_bf16_values(size_t(n) * s.k, rng, 0.05f));
      auto d_x = upload_bf16(random_bf16_values(size_t(8) * s.k, rng));
      for (int m = 1; m <= 8; ++m)
        check_qkv_rope(c, "skinny_gemm_qkv_rope", s.heads, m, rng,
                       [&](bf16* qkv) { skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), qkv, false, m, n, s.k, 0.f, 0); },
                       [&](bf16* qkv, const QkvRope& r) {
                         skinny_gemm_qkv_rope(d_x.as<bf16>(), d_w.as<bf16>(), qkv, m, n, s.k, r, 0);
                       });
    }
    c.expect_true("skinny_gemm_qkv_rope refuses head_dim 72 (RoPE pairs must fill 16-row tiles)",
                  throws_naming([&] {
                    DeviceBuffer d(1 << 16);
                    QkvRope r;
                    r.num_q_heads = 1;
                    r.num_kv_heads = 1;
                    r.head_dim = 72;
                    r.block_size = 16;
                    skinny_gemm_qkv_rope(d.as<bf16>(), d.as<bf16>(), d.as<bf16>(), 1, 216, 8, r, 0);
                  }, "head_dim 72"));

    bool silu_rejected = false;
    try {
      DeviceBuffer d(4096);
      skinny_gemm_silu(d.as<bf16>(), d.as<bf16>(), d.as<bf16>(), 1, 12, 8, 0);
    } catch (const pagoda::Error&) {
      silu_rejected = true;
    }
    c.expect_true("skinny_gemm_silu refuses an intermediate size that is not a multiple of 8", silu_rejected);

    bool rejected = false;
    try {
      DeviceBuffer d(1024);
      skinny_gemm(d.as<bf16>(), d.as<bf16>(), d.data(), true, kSkinnyGemmMaxRows + 1, 1, 8, 0.f, 0);
    } catch (const pagoda::Error&) {
      rejected = true;
    }
    c.expect_true("skinny_gemm refuses m = " + std::to_string(kSkinnyGemmMaxRows + 1) + " with an error", rejected);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("skinny_gemm_test");
}
