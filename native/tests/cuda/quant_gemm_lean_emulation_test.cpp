// Runs quant_gemm_lean's kernel source (quant_gemm_lean_kernel.cuh) on the host, without a GPU, so its
// stage ring, pointer cursors, x rows past m and the k split over warps are checked where no device is
// (host_emulation.h: a CTA's threads as fibers, a warp-wide mma model). GPTQ (g128, g64, act-order with x
// gathered), AWQ and both fp8 formats, at m 1, 2, 3, 8 with four and eight warps a CTA, two and four
// stages (deep), on shapes whose
// groups do not split evenly over the warps (tails of the ring), against the wave2 README's
// dequantization; beta scales the prior y, which sits in a wider output that must stay untouched
// elsewhere. Also: the prmt sign-extending e4m3 conversion equals e4m3_even / e4m3_odd on every byte pair.
// What it cannot show: timing, the hardware's mma, and bit equality with quant_gemm (quant_gemm_test
// does that on the GPU).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "model/safetensors.h"

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::lean
#include "host_emulation.h"
#include "emulation_checks.h"

namespace pagoda::cuda {
// RoPE's spelled-out roundings (rope_neox.cuh, reached through qkv_rope.cuh) on the host: one IEEE multiply, one fma.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
} // namespace pagoda::cuda

namespace pagoda::cuda::lean {
// The S epilogue's SiLU on the host; the reference below calls the same function, so the check is of the
// fused epilogue's indices and roundings (the GPU test compares the hardware's __expf against silu_mul).
inline float __expf(float v) { return std::exp(v); }
} // namespace pagoda::cuda::lean

#define LEAN_DEVICE inline
#define LEAN_KERNEL(threads, min_blocks) void
#define LEAN_SHARED_PARTIAL(name, W) \
  float(&name)[W][8][16 + 4] = *reinterpret_cast<float(*)[W][8][16 + 4]>(emu::shared_memory)
// The split norm's partials after the W warps' partial sums (run_grid's shared memory covers both: lean_smem).
#define LEAN_SHARED_NORM(name, W) \
  SplitNormPartials& name = *reinterpret_cast<SplitNormPartials*>(emu::shared_memory + size_t(W) * 8 * 20 * 4)
#include "backend/cuda/quant_gemm_lean_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

using emu::Case;

// Shared memory of a lean CTA of W warps: the partial sums, then the split norm's partials.
size_t lean_smem(int W) { return size_t(W) * 8 * 20 * 4 + sizeof(SplitNormPartials); }

// Every pair of e4m3 bytes through the kernel's conversion and through bf16x2_bits.cuh's.
void check_e4m3_pairs(Checker& c) {
  size_t bad = 0;
  for (uint32_t lo = 0; lo < 256; ++lo)
    for (uint32_t hi = 0; hi < 256; ++hi) {
      const uint32_t rg = lo | (hi << 8) | (hi << 16) | (lo << 24), r8 = hi | (lo << 8) | (lo << 16) | (hi << 24);
      const uint32_t w0 = lean::__byte_perm(rg, r8, 0x5140), w1 = lean::__byte_perm(rg, r8, 0x7362);
      bad += lean::e4m3_pair<0x9180u>(rg) != e4m3_even(w0);
      bad += lean::e4m3_pair<0x9180u>(r8) != e4m3_odd(w0);
      bad += lean::e4m3_pair<0xB3A2u>(rg) != e4m3_even(w1);
      bad += lean::e4m3_pair<0xB3A2u>(r8) != e4m3_odd(w1);
    }
  c.expect_true("e4m3 pairs: prmt sign-extend + shift + mask equals e4m3_even / e4m3_odd on all 65536 pairs", bad == 0,
                std::to_string(bad) + " differ");
}

template <int W> void run_case(Checker& c, const Case& cs, bool deep, std::mt19937& rng) {
  const QuantizedWeight w = emu::host_view(cs.host);
  const int n = w.n, k = w.k, ldy = n + 8;
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  const auto ref_all = ref_linear(x_all, cs.dequant, 8, n, k);
  const auto y0 = random_bf16_values(size_t(8) * n, rng);
  const lean::LeanKernel kernel = lean::lean_kernel_for<W>(w, deep);
  for (int m : {1, 2, 3, 8}) {
    const std::vector<bf16> x = packed_x(x_all, w, m);
    for (float beta : {0.f, 0.5f}) {
      if (beta != 0.f && m != 3) continue;
      const Expected e = expected(ref_all, y0, size_t(m) * n, beta);
      emu::WideOutput y(m, n, ldy);
      y.fill(y0);
      const std::string tag = cs.name + " m " + std::to_string(m) + (beta != 0.f ? " beta 0.5" : "") + " warps " +
                              std::to_string(W) + (deep ? " deep" : "");
      const std::string fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W),
                                              [&] { kernel(x.data(), w, static_cast<bf16*>(y.data()), ldy, m, beta, QkvRope{}, SplitNorm{}); },
                                              W * 32);
      if (!ran(c, tag, ": runs to the end", fault)) continue;
      c.expect(tag, compare(y.values(), e.ref), 6e-3, 8e-3 * e.max + 1e-3);
      c.expect_true(tag + ": nothing outside y's m x n written", y.outside_untouched());
    }
  }
}

// The engine's exact calls for the wave2 GPTQ checkpoints (layer 0 and 1, every linear): the parts repacked
// as QuantizedCudaLinear does (concat_rows when they fuse; act-order q / k / v and gate / up do not, so
// each part writes its columns of y at its row offset with ldy = out), eight warps (the launcher's pick
// at these n), m = 5 (golden case 0, "Once upon a time": its prefill) and 1. k = 256 gives two groups
// of 128, so warps 2..7 stream nothing. Rules out the kernel's arithmetic at these calls; what failed
// there was x read through ld.global.nc in the PDL chain (ptx_pdl_check.py, quant_gemm_test's PDL chain).
void check_checkpoint(Checker& c, const std::string& model, std::mt19937& rng) {
  const char* shared = std::getenv("PAGODA_SHARED"); // as pooling_golden.h: else ../shared beside the repository
  const std::string dir = std::string(shared != nullptr && *shared != '\0' ? shared : "../shared") + "/models/wave2/" + model;
  std::unique_ptr<pagoda::SafetensorsCheckpoint> ck;
  try {
    ck = std::make_unique<pagoda::SafetensorsCheckpoint>(dir);
  } catch (const std::exception& e) {
    c.expect_true(model + " checkpoint at " + dir, false, e.what());
    return;
  }
  auto tensor = [&](const std::string& n) {
    const pagoda::SafetensorsTensor* t = ck->find(n);
    if (t == nullptr) throw std::runtime_error("tensor " + n + " missing in " + dir);
    return t;
  };
  struct Linear { const char* name; std::vector<const char*> parts; };
  const std::vector<Linear> linears = {{"qkv", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
                                       {"o", {"self_attn.o_proj"}},
                                       {"gate_up", {"mlp.gate_proj", "mlp.up_proj"}},
                                       {"down", {"mlp.down_proj"}}};
  for (int layer : {0, 1}) {
    for (const Linear& lin : linears) {
      std::vector<HostQuantizedWeight> host;
      for (const char* part : lin.parts) {
        const std::string p = "model.layers." + std::to_string(layer) + "." + part;
        const pagoda::SafetensorsTensor* qw = tensor(p + ".qweight");
        const int in = int(qw->shape[0]) * 8, out = int(qw->shape[1]);
        host.push_back(repack_gptq(p, static_cast<const int32_t*>(qw->data),
                                   static_cast<const int32_t*>(tensor(p + ".qzeros")->data),
                                   static_cast<const uint16_t*>(tensor(p + ".scales")->data),
                                   static_cast<const int32_t*>(tensor(p + ".g_idx")->data), in, out, 128));
      }
      std::vector<std::pair<HostQuantizedWeight, int>> parts; // weight, row offset
      if (auto fused = concat_rows(host)) {
        parts.push_back({*fused, 0});
      } else {
        int offset = 0;
        for (const HostQuantizedWeight& h : host) {
          parts.push_back({h, offset});
          offset += h.n;
        }
      }
      int out = 0;
      for (const auto& p : parts) out += p.first.n;
      const int k = host.front().k;
      const auto x_all = random_bf16_values(size_t(8) * k, rng);
      for (int m : {5, 1}) {
        const std::string tag = model + " layer " + std::to_string(layer) + " " + lin.name + " (" +
                                std::to_string(parts.size()) + (parts.size() > 1 ? " parts" : " fused") + ", " +
                                std::to_string(out) + "x" + std::to_string(k) + ") m " + std::to_string(m);
        emu::WideOutput y(m, out, out);
        std::vector<double> ref(size_t(m) * out);
        double max = 0;
        bool ok_run = true;
        for (const auto& [h, offset] : parts) {
          const QuantizedWeight w = emu::host_view(h);
          const std::vector<bf16> x = packed_x(x_all, w, m);
          const std::vector<float> deq = dequantize_on_host(h); // [n][k] in the checkpoint's column order
          for (int r = 0; r < m; ++r)
            for (int o = 0; o < h.n; ++o) {
              double sum = 0;
              for (int i = 0; i < k; ++i) sum += double(x_all[size_t(r) * k + i]) * deq[size_t(o) * k + i];
              ref[size_t(r) * out + offset + o] = sum;
              max = std::max(max, std::fabs(sum));
            }
          const lean::LeanKernel kernel = lean::lean_kernel_for<8>(w, false);
          bf16* yp = static_cast<bf16*>(y.data()) + offset;
          const std::string fault = emu::run_grid(dim3(h.n / 16, 1, 1), lean_smem(8),
                                                  [&] { kernel(x.data(), w, yp, out, m, 0.f, QkvRope{}, SplitNorm{}); }, 8 * 32);
          ok_run = ran(c, tag, ": runs to the end", fault) && ok_run;
        }
        if (!ok_run) continue;
        c.expect(tag, compare(y.values(), ref), 6e-3, 8e-3 * max + 1e-3);
        c.expect_true(tag + ": nothing outside y's m x out written", y.outside_untouched());
      }
    }
  }
}

float bf16_value(bf16 v) { return __bfloat162float(v); }

// gate_up + SiLU·mul (S = true) on a weight whose rows interleave_gate_up_rows reordered, against the plain
// kernel on the weight as it was (its first n/2 rows gate, the rest up) followed by silu_mul's formula on
// the bf16 outputs: bit for bit at m 1, 2, 3, 8, nothing written outside out's m x n/2; and the host
// dequantization of the interleaved weight is the plain one's rows, moved.
template <int W> void run_silu_case(Checker& c, const Case& cs, bool deep, std::mt19937& rng) {
  const HostQuantizedWeight inter = interleave_gate_up_rows(cs.host);
  const int n = cs.host.n, k = cs.host.k, half = n / 2;
  if (!deep && W == 4) {
    const std::vector<float> a = dequantize_on_host(cs.host), b = dequantize_on_host(inter);
    bool moved = true;
    for (int o = 0; o < n; ++o) {
      const int from = (o % 16 < 8 ? 0 : half) + (o / 16) * 8 + o % 8;
      for (int i = 0; i < k; ++i) moved = moved && b[size_t(o) * k + i] == a[size_t(from) * k + i];
    }
    c.expect_true(cs.name + ": interleave_gate_up_rows moves whole rows (gate 8b.. to 16b.., up beside)", moved);
  }
  const QuantizedWeight w = emu::host_view(cs.host), wi = emu::host_view(inter);
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  for (int m : {1, 2, 3, 8}) {
    const std::vector<bf16> x = packed_x(x_all, w, m); // the same perm: interleaving moves output rows only
    const std::string tag = cs.name + " silu m " + std::to_string(m) + " warps " + std::to_string(W) + (deep ? " deep" : "");
    emu::WideOutput y(m, n, n);
    std::string fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      lean::lean_kernel_for<W>(w, deep)(x.data(), w, static_cast<bf16*>(y.data()), n, m, 0.f, QkvRope{}, SplitNorm{});
    }, W * 32);
    if (!ran(c, tag, ": the plain kernel runs to the end", fault)) continue;
    const std::vector<float> gu = y.values();
    std::vector<float> want(size_t(m) * half);
    for (int i = 0; i < m; ++i)
      for (int col = 0; col < half; ++col) {
        const float g = gu[size_t(i) * n + col], u = gu[size_t(i) * n + half + col];
        want[size_t(i) * half + col] = bf16_value(__float2bfloat16(g / (1.f + lean::__expf(-g)) * u));
      }
    emu::WideOutput out(m, half, half + 8);
    fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      lean::lean_kernel_for<W, true>(wi, deep)(x.data(), wi, static_cast<bf16*>(out.data()), half + 8, m, 0.f, QkvRope{}, SplitNorm{});
    }, W * 32);
    if (!ran(c, tag, ": the fused kernel runs to the end", fault)) continue;
    c.expect_true(tag + ": equals the plain kernel + silu_mul bit for bit", equal_exactly(out.values(), want));
    c.expect_true(tag + ": nothing outside out's m x n/2 written", out.outside_untouched());
    if (wi.format != QuantFormat::kFp8) continue;
    // A (W8A8 per token): the same products unrounded in float32 staging, then each row's max |product| over
    // every CTA's 8 outputs after 8 rows of products; rows past m and the tail stay as they were.
    const int ctas = n / 16;
    const size_t maxima_at = size_t(8) * half, staged_size = maxima_at + size_t(8) * ctas + 64;
    std::vector<float> staged(staged_size, -1.f);
    fault = emu::run_grid(dim3(ctas, 1, 1), lean_smem(W), [&] {
      lean::lean_kernel_for<W, true, true>(wi, deep)(x.data(), wi, reinterpret_cast<bf16*>(staged.data()), half, m, 0.f, QkvRope{}, SplitNorm{});
    }, W * 32);
    if (!ran(c, tag, ": the staged kernel runs to the end", fault)) continue;
    bool products = true, maxima = true, untouched = true;
    for (int i = 0; i < 8; ++i)
      for (int col = 0; col < half; ++col) {
        const float got = staged[size_t(i) * half + col];
        if (i >= m) {
          untouched = untouched && got == -1.f;
          continue;
        }
        const float g = gu[size_t(i) * n + col], u = gu[size_t(i) * n + half + col];
        const float gv = bf16_value(__float2bfloat16(g)), uv = bf16_value(__float2bfloat16(u));
        products = products && got == gv / (1.f + lean::__expf(-gv)) * uv;
      }
    for (int i = 0; i < 8; ++i)
      for (int b = 0; b < ctas; ++b) {
        const float got = staged[maxima_at + size_t(i) * ctas + b];
        if (i >= m) {
          untouched = untouched && got == -1.f;
          continue;
        }
        float amax = 0.f;
        for (int r = 0; r < 8; ++r) amax = std::max(amax, std::fabs(staged[size_t(i) * half + 8 * b + r]));
        maxima = maxima && got == amax;
      }
    for (size_t e = maxima_at + size_t(8) * ctas; e < staged_size; ++e) untouched = untouched && staged[e] == -1.f;
    c.expect_true(tag + " staged: float32 products equal silu_mul's formula on the plain kernel's bf16 outputs", products);
    c.expect_true(tag + " staged: each CTA's row maxima are the max |product| of its 8 outputs", maxima);
    c.expect_true(tag + " staged: rows past m and past the maxima untouched", untouched);
  }
}

} // namespace

// qkv + RoPE + KV write (R, fp8 formats): the fused kernel against the plain kernel followed by RoPE and the cache
// write done here with rope_neox.cuh's own functions, bit for bit: which rows each CTA reads, the pairing of
// rows d and d + head_dim / 2, the q / k / v split and the cache indices, for GQA at head_dim 32 (four CTAs a
// head) and 64, with a padding row (slot -1). The GPU test (quant_gemm_test) compares against rope_neox_kv_write.
template <int W> void run_qkv_rope_case(Checker& c, const Case& cs, int nq, int nkv, int hd, std::mt19937& rng) {
  const QuantizedWeight w = emu::host_view(cs.host);
  const int n = w.n, k = w.k, bs = 4, blocks = 6;
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv_freq[i] = float(std::pow(10000.0, -2.0 * i / hd));
  for (int m : {1, 3, 8}) {
    const std::vector<bf16> x = packed_x(x_all, w, m);
    std::vector<int32_t> pos(m), slots(m);
    for (int i = 0; i < m; ++i) {
      pos[i] = int32_t(rng() % 70000);
      slots[i] = (i * 7 + 2) % (blocks * bs);
    }
    if (m >= 3) slots[1] = -1;
    const std::string tag = cs.name + " qkv rope m " + std::to_string(m) + " head_dim " + std::to_string(hd) +
                            " warps " + std::to_string(W);
    emu::WideOutput plain(m, n, n);
    std::string fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      lean::lean_kernel_for<W>(w, false)(x.data(), w, static_cast<bf16*>(plain.data()), n, m, 0.f, QkvRope{}, SplitNorm{});
    }, W * 32);
    if (!ran(c, tag, ": the plain kernel runs to the end", fault)) continue;
    const size_t cache_elems = size_t(blocks) * nkv * bs * hd;
    std::vector<float> want = plain.values(), want_k(cache_elems, -1.f), want_v(cache_elems, -1.f);
    for (int i = 0; i < m; ++i) {
      float* row = want.data() + size_t(i) * n;
      for (int h = 0; h < nq + nkv; ++h)
        for (int j = 0; j < hd / 2; ++j) {
          float sn, cs_;
          rope_neox_sincos(pos[i], inv_freq[j], &sn, &cs_);
          const float x1 = row[h * hd + j], x2 = row[h * hd + j + hd / 2];
          row[h * hd + j] = bf16_value(__float2bfloat16(rope_neox_first(x1, x2, cs_, sn)));
          row[h * hd + j + hd / 2] = bf16_value(__float2bfloat16(rope_neox_second(x1, x2, cs_, sn)));
        }
      if (slots[i] < 0) continue;
      for (int h = 0; h < nkv; ++h)
        for (int d = 0; d < hd; ++d) {
          const size_t at = ((size_t(slots[i] / bs) * nkv + h) * bs + slots[i] % bs) * hd + d;
          want_k[at] = row[(nq + h) * hd + d];
          want_v[at] = row[(nq + nkv + h) * hd + d];
        }
    }
    emu::WideOutput fused(m, n, n);
    std::vector<bf16> k_cache(cache_elems, __float2bfloat16(-1.f)), v_cache(cache_elems, __float2bfloat16(-1.f));
    QkvRope r;
    r.positions = pos.data();
    r.inv_freq = inv_freq.data();
    r.slots = slots.data();
    r.k_cache = k_cache.data();
    r.v_cache = v_cache.data();
    r.num_q_heads = nq;
    r.num_kv_heads = nkv;
    r.head_dim = hd;
    r.block_size = bs;
    fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      lean::lean_kernel_for<W, false, false, true>(w, false)(x.data(), w, static_cast<bf16*>(fused.data()), n, m, 0.f, r, SplitNorm{});
    }, W * 32);
    if (!ran(c, tag, ": the fused kernel runs to the end", fault)) continue;
    std::vector<float> got_k(cache_elems), got_v(cache_elems);
    for (size_t e = 0; e < cache_elems; ++e) {
      got_k[e] = bf16_value(k_cache[e]);
      got_v[e] = bf16_value(v_cache[e]);
    }
    c.expect_true(tag + ": qkv equals the plain kernel + RoPE bit for bit", equal_exactly(fused.values(), want));
    c.expect_true(tag + ": the K and V cache hold the rotated k and v at each slot, nothing else",
                  equal_exactly(got_k, want_k) && equal_exactly(got_v, want_v));
    c.expect_true(tag + ": nothing outside qkv's m x n written", fused.outside_untouched());
  }
}

// The split norm (kernels.h SplitNorm) on the plain kernel, at m 1, 3, 8. Producer: the residual is x0 plus the plain
// kernel's bf16 outputs (add_rms_norm's add), the scaled row bf16(residual * gamma), each tile's sum the sum of its 16
// squares in order; y itself untouched. Consumer: each row's outputs are the plain kernel's sums times the row's 1 /
// rms from the tile sums (within a bf16 step of the reference times it), and the gate_up + SiLU kernel on those sums
// is silu_mul of the plain consumer's gate and up bit for bit.
template <int W> void run_split_norm_case(Checker& c, const Case& cs, bool deep, std::mt19937& rng) {
  const QuantizedWeight w = emu::host_view(cs.host);
  const int n = w.n, k = w.k, parts_out = n / 16, parts_in = k / 16;
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  const auto ref_all = ref_linear(x_all, cs.dequant, 8, n, k);
  const auto gamma_f = random_bf16_values(n, rng);
  const std::vector<bf16> gamma = to_bf16(gamma_f);
  const lean::LeanKernel kernel = lean::lean_kernel_for<W>(w, deep);
  for (int m : {1, 3, 8}) {
    const std::string tag = cs.name + " split norm m " + std::to_string(m) + " warps " + std::to_string(W) +
                            (deep ? " deep" : "");
    const std::vector<bf16> x = packed_x(x_all, w, m);
    emu::WideOutput plain(m, n, n);
    std::string fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      kernel(x.data(), w, static_cast<bf16*>(plain.data()), n, m, 0.f, QkvRope{}, SplitNorm{});
    }, W * 32);
    if (!ran(c, tag, ": the plain kernel runs to the end", fault)) continue;
    const std::vector<float> y = plain.values();

    const auto x0 = random_f32_values(size_t(m) * n, rng, 4.f);
    std::vector<float> residual = x0, sums(size_t(m) * parts_out, -1.f);
    std::vector<bf16> scaled(size_t(m) * n, __float2bfloat16(-1.f));
    SplitNorm out;
    out.residual = residual.data();
    out.gamma = gamma.data();
    out.scaled = scaled.data();
    out.sums_out = sums.data();
    out.parts = parts_out;
    out.width = n;
    emu::WideOutput untouched(m, n, n);
    untouched.fill(std::vector<float>(size_t(m) * n, 7.f));
    fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      kernel(x.data(), w, static_cast<bf16*>(untouched.data()), n, m, 0.f, QkvRope{}, out);
    }, W * 32);
    if (!ran(c, tag, ": the producer runs to the end", fault)) continue;
    bool adds = true, rows = true, tiles = true;
    for (int i = 0; i < m; ++i)
      for (int t = 0; t < parts_out; ++t) {
        float sum = 0.f;
        for (int r = 0; r < 16; ++r) {
          const size_t at = size_t(i) * n + t * 16 + r;
          const float xi = x0[at] + y[at];
          adds = adds && residual[at] == xi;
          rows = rows && bf16_value(scaled[at]) == bf16_value(__float2bfloat16(xi * gamma_f[t * 16 + r]));
          const volatile float square = xi * xi; // stored first, as the kernel does (no fused multiply-add)
          sum += square;
        }
        tiles = tiles && sums[size_t(i) * parts_out + t] == sum;
      }
    c.expect_true(tag + ": producer: residual = x0 + the plain outputs, bit for bit", adds);
    c.expect_true(tag + ": producer: scaled = bf16(residual * gamma)", rows);
    c.expect_true(tag + ": producer: each tile's sum of squares, in order", tiles);
    const std::vector<float> sevens = untouched.values();
    c.expect_true(tag + ": producer: y untouched",
                  std::all_of(sevens.begin(), sevens.end(), [](float v) { return v == 7.f; }) &&
                      untouched.outside_untouched());

    std::vector<float> sums_in(size_t(m) * parts_in);
    std::uniform_real_distribution<float> positive(0.5f, 8.f);
    for (float& v : sums_in) v = positive(rng);
    SplitNorm in;
    in.sums_in = sums_in.data();
    in.parts = parts_in;
    in.width = k;
    in.eps = 1e-5f;
    if (w.format == QuantFormat::kFp8) continue; // fp8 kernels carry no consumer side (kConsumes)
    emu::WideOutput normed(m, n, n);
    fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      kernel(x.data(), w, static_cast<bf16*>(normed.data()), n, m, 0.f, QkvRope{}, in);
    }, W * 32);
    if (!ran(c, tag, ": the consumer runs to the end", fault)) continue;
    std::vector<double> want(size_t(m) * n);
    for (int i = 0; i < m; ++i) {
      double total = 0;
      for (int p = 0; p < parts_in; ++p) total += sums_in[size_t(i) * parts_in + p];
      const double scale = 1.0 / std::sqrt(total / k + 1e-5);
      for (int j = 0; j < n; ++j) want[size_t(i) * n + j] = ref_all[size_t(i) * n + j] * scale;
    }
    double peak = 0;
    for (double v : want) peak = std::max(peak, std::fabs(v));
    const std::vector<float> got = normed.values();
    c.expect(tag + ": consumer: outputs times each row's 1 / rms", compare(got, want), 6e-3, 8e-3 * peak + 1e-3);
    if (n % 32 != 0 || w.format != QuantFormat::kInt4) continue;
    const HostQuantizedWeight inter_host = interleave_gate_up_rows(cs.host);
    const QuantizedWeight wi = emu::host_view(inter_host);
    const int half = n / 2;
    emu::WideOutput silu(m, half, half);
    fault = emu::run_grid(dim3(n / 16, 1, 1), lean_smem(W), [&] {
      lean::lean_kernel_for<W, true>(wi, deep)(x.data(), wi, static_cast<bf16*>(silu.data()), half, m, 0.f, QkvRope{}, in);
    }, W * 32);
    if (!ran(c, tag, ": the gate_up + SiLU consumer runs to the end", fault)) continue;
    std::vector<float> silu_want(size_t(m) * half);
    for (int i = 0; i < m; ++i)
      for (int col = 0; col < half; ++col) {
        const float g = got[size_t(i) * n + col], u = got[size_t(i) * n + half + col];
        silu_want[size_t(i) * half + col] = bf16_value(__float2bfloat16(g / (1.f + lean::__expf(-g)) * u));
      }
    c.expect_true(tag + ": gate_up + SiLU consumer = silu_mul of the plain consumer, bit for bit",
                  equal_exactly(silu.values(), silu_want));
  }
}

int main() {
  return run_checks("quant_gemm_lean_emulation_test", 1519, [](Checker& c, std::mt19937& rng) {
    check_e4m3_pairs(c);
    check_checkpoint(c, "tiny-llama-gptq-int4", rng);
    check_checkpoint(c, "tiny-llama-gptq-int4-actorder", rng);
    struct Shape { int n, k; };
    // 32 x 1408: 11 groups of 128 (22 of 64) over 4 or 8 warps: uneven counts, ring tails, idle warps at
    // 8 x 128 = 1024 < k; 16 x 384: 3 groups, fewer than the warps.
    for (const Shape s : {Shape{32, 1408}, Shape{16, 384}}) {
      const std::vector<Case> cases = quant_cases(
          s.n, s.k, {{"gptq g128 sym", 128, false, true}, {"gptq g64 zeros", 64, false, false}, {"gptq act-order", 128, true, false}},
          rng);
      for (const Case& cs : cases) {
        for (bool deep : {false, true}) {
          run_case<4>(c, cs, deep, rng);
          run_case<8>(c, cs, deep, rng);
        }
      }
    }
    // gate_up + SiLU·mul: 64 x 1408 (four tiles, intermediate 32: gate rows of tile b in both halves of source
    // tiles) and 48 x 384 (intermediate 24: an up block starts mid-tile), each int4 format and fp8 per channel
    // (its staged W8A8 epilogue too).
    for (const Shape s : {Shape{64, 1408}, Shape{48, 384}}) {
      const std::vector<Case> cases = quant_cases(
          s.n, s.k, {{"gptq g128 sym", 128, false, true}, {"gptq g64 zeros", 64, false, false}, {"gptq act-order", 128, true, false}},
          rng);
      for (const Case& cs : cases) {
        if (cs.host.format == QuantFormat::kFp8 && cs.host.scale_index.group_stride != 0) continue; // fp8 blocks
        for (bool deep : {false, true}) {
          run_silu_case<4>(c, cs, deep, rng);
          run_silu_case<8>(c, cs, deep, rng);
        }
      }
    }
    // The split norm on int4 (GPTQ sym, g64 with zero points, act-order; AWQ) and, its producer side only, fp8 per
    // channel: 64 x 1408 (odd tile sums a row: 88).
    for (const Case& cs : quant_cases(64, 1408, {{"gptq g128 sym", 128, false, true}, {"gptq g64 zeros", 64, false, false},
                                                  {"gptq act-order", 128, true, false}}, rng)) {
      if (cs.host.format == QuantFormat::kFp8 && cs.host.scale_index.group_stride != 0) continue; // fp8 blocks
      run_split_norm_case<4>(c, cs, false, rng);
      run_split_norm_case<8>(c, cs, true, rng);
    }
    // qkv + RoPE: 4 q heads and 2 kv heads of 32 (n 256) and 2 + 1 of 64, fp8 per channel and blocks.
    struct Qkv { int nq, nkv, hd, k; };
    for (const Qkv q : {Qkv{4, 2, 32, 384}, Qkv{2, 1, 64, 256}}) {
      const int n = (q.nq + 2 * q.nkv) * q.hd;
      for (const Case& cs : quant_cases(n, q.k, {}, rng)) {
        if (cs.host.format != QuantFormat::kFp8) continue;
        run_qkv_rope_case<4>(c, cs, q.nq, q.nkv, q.hd, rng);
        run_qkv_rope_case<8>(c, cs, q.nq, q.nkv, q.hd, rng);
      }
    }
  });
}
