// Checks the split norm (kernels.h SplitNorm, PAGODA_SPLIT_NORM=1) against the chain it replaces, on bf16
// (skinny_gemm), GPTQ g128 sym and act-order, and AWQ (quant_gemm_lean) weights, at m 1, 3 and 8:
//   producer GEMV (o_proj / down) + add_rms_norm + consumer GEMV (plain, and gate_up + SiLU·mul)
// against the producer with the split norm + the consumer scaling its rows by 1 / rms:
//   - the residual stream is the same bit for bit (the add is add_rms_norm's: x += float(bf16(acc)));
//   - the tile sums add up to each row's sum of squares;
//   - the consumer's outputs equal the chain's within bf16 rounding of its input (bf16(x * gamma) instead of
//     bf16(x / rms * gamma)), and nothing is written past them;
// and the launchers refuse what a split norm cannot serve (m 9, both sides at once, a width that is not the GEMV's,
// an fp8 consumer).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "backend/cuda/kernels.h"
#include "backend/cuda/quant_kernels.h"
#include "test_support.h"
#include "quant_checkpoints.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr float kEps = 1e-5f;

// One weight as both kinds of kernel see it: bf16 rows, or a repacked quantized weight.
struct Weight {
  int n = 0, k = 0;
  DeviceBuffer bf16_rows; // set for bf16
  std::unique_ptr<DeviceQuantizedWeight> quant;
};

Weight bf16_weight(int n, int k, std::mt19937& rng) {
  Weight w;
  w.n = n;
  w.k = k;
  w.bf16_rows = upload_bf16(random_bf16_values(size_t(n) * k, rng, 1.f / std::sqrt(float(k))));
  return w;
}

Weight quant_weight(const std::string& kind, int n, int k, bool interleave, std::mt19937& rng) {
  Weight w;
  w.n = n;
  w.k = k;
  auto repacked = [&] {
    if (kind == "awq") {
      const Awq a = make_awq(k, n, 128, rng);
      return repack_awq("awq", a.qweight.data(), a.qzeros.data(), a.scales.data(), k, n, 128);
    }
    if (kind == "fp8") {
      const Fp8 f = make_fp8(k, n, false, rng);
      return fp8_per_channel("fp8", f.weight.data(), f.scale.data(), n, k);
    }
    const bool act_order = kind == "gptq act-order";
    const Gptq g = make_gptq(k, n, 128, act_order, !act_order, rng);
    return repack_gptq("gptq", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), k, n, 128);
  };
  const HostQuantizedWeight host = repacked();
  w.quant = std::make_unique<DeviceQuantizedWeight>(interleave ? interleave_gate_up_rows(host) : host);
  return w;
}

// y = x · w^T (bf16 out), with the split norm `norm` (consumer or producer) or none.
void gemv(const Weight& w, const bf16* x, bf16* y, int m, const SplitNorm& norm, DeviceBuffer& ws) {
  if (w.quant) {
    quant_gemm_lean(x, w.quant->view(), y, w.n, m, 0.f, ws.data(), ws.bytes(), nullptr, -1, norm);
    return;
  }
  if (norm.sums_in == nullptr && norm.residual == nullptr)
    skinny_gemm(x, w.bf16_rows.as<bf16>(), y, false, m, w.n, w.k, 0.f, nullptr);
  else skinny_gemm_split_norm(x, w.bf16_rows.as<bf16>(), y, m, w.n, w.k, norm, nullptr);
}

// out = silu(gate) * up from an interleaved gate_up weight.
void gemv_silu(const Weight& w, const bf16* x, bf16* out, int m, const SplitNorm& norm, DeviceBuffer& ws) {
  if (w.quant) quant_gemm_silu(x, w.quant->view(), out, m, ws.data(), ws.bytes(), nullptr, -1, norm);
  else skinny_gemm_silu(x, w.bf16_rows.as<bf16>(), out, m, w.n / 2, w.k, nullptr, norm);
}

void check_chain(Checker& c, const std::string& name, const Weight& producer, const Weight& consumer, bool silu,
                 std::mt19937& rng) {
  const int hidden = producer.n, k1 = producer.k, n2 = silu ? consumer.n / 2 : consumer.n;
  const int parts = hidden / 16;
  for (int m : {1, 3, 8}) {
    const std::string tag = name + (silu ? " gate_up+silu" : " plain") + " m " + std::to_string(m);
    auto d_a = upload_bf16(random_bf16_values(size_t(m) * k1, rng));
    const auto x0 = random_f32_values(size_t(m) * hidden, rng, 4.f);
    auto d_gamma = upload_bf16(random_bf16_values(hidden, rng, 1.f));
    DeviceBuffer ws(std::max<size_t>(size_t(8) * std::max(k1, hidden) * sizeof(bf16), 16));

    // The chain as the engine runs it without a split norm.
    auto x_ref = upload(x0);
    DeviceBuffer y1(size_t(m) * hidden * sizeof(bf16)), h(size_t(m) * hidden * sizeof(bf16));
    DeviceBuffer y2(size_t(m) * n2 * sizeof(bf16));
    gemv(producer, d_a.as<bf16>(), y1.as<bf16>(), m, SplitNorm{}, ws);
    add_rms_norm(x_ref.as<float>(), y1.as<bf16>(), d_gamma.as<bf16>(), h.as<bf16>(), m, hidden, kEps, nullptr);
    if (silu) gemv_silu(consumer, h.as<bf16>(), y2.as<bf16>(), m, SplitNorm{}, ws);
    else gemv(consumer, h.as<bf16>(), y2.as<bf16>(), m, SplitNorm{}, ws);

    // The same with the norm split over the two GEMVs.
    auto x_split = upload(x0);
    DeviceBuffer scaled(size_t(m) * hidden * sizeof(bf16)), sums(size_t(m) * parts * sizeof(float));
    DeviceBuffer y2s(size_t(m) * n2 * sizeof(bf16) + 64 * sizeof(bf16));
    poison(scaled);
    poison(sums);
    poison(y2s);
    SplitNorm out;
    out.residual = x_split.as<float>();
    out.gamma = d_gamma.as<bf16>();
    out.scaled = scaled.as<bf16>();
    out.sums_out = sums.as<float>();
    out.parts = parts;
    out.width = hidden;
    out.eps = kEps;
    gemv(producer, d_a.as<bf16>(), scaled.as<bf16>(), m, out, ws);
    SplitNorm in;
    in.sums_in = sums.as<float>();
    in.parts = parts;
    in.width = hidden;
    in.eps = kEps;
    if (silu) gemv_silu(consumer, scaled.as<bf16>(), y2s.as<bf16>(), m, in, ws);
    else gemv(consumer, scaled.as<bf16>(), y2s.as<bf16>(), m, in, ws);
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());

    const auto xr = download<float>(x_ref, size_t(m) * hidden), xs = download<float>(x_split, size_t(m) * hidden);
    c.expect_true(tag + ": the residual equals add_rms_norm's bit for bit",
                  std::equal(xr.begin(), xr.end(), xs.begin(),
                             [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }));
    const auto s = download<float>(sums, size_t(m) * parts);
    double worst = 0;
    for (int i = 0; i < m; ++i) {
      double want = 0, got = 0;
      for (int j = 0; j < hidden; ++j) want += double(xr[size_t(i) * hidden + j]) * xr[size_t(i) * hidden + j];
      for (int p = 0; p < parts; ++p) got += s[size_t(i) * parts + p];
      worst = std::max(worst, std::fabs(got - want) / want);
    }
    c.expect_true(tag + ": the tile sums add up to each row's sum of squares", worst < 1e-5,
                  "relative error " + std::to_string(worst));
    const auto want = download_bf16(y2, size_t(m) * n2);
    std::vector<double> ref(want.begin(), want.end());
    double peak = 0;
    for (double v : ref) peak = std::max(peak, std::fabs(v));
    const auto got = download_bf16(y2s, size_t(m) * n2 + 64);
    c.expect(tag + ": outputs", compare(std::vector<float>(got.begin(), got.begin() + ref.size()), ref), 1.5e-2,
             3e-2 * peak + 1e-3);
    bool guard = true;
    for (size_t e = ref.size(); e < got.size(); ++e) guard = guard && std::isnan(got[e]);
    c.expect_true(tag + ": nothing written past the outputs", guard);
  }
}

void check_refusals(Checker& c, const Weight& bf, const Weight& q) {
  DeviceBuffer x(size_t(16) * 4096 * sizeof(bf16)), y(size_t(16) * 4096 * sizeof(bf16)), ws(1 << 20);
  DeviceBuffer sums(size_t(16) * 256 * sizeof(float)), res(size_t(16) * 4096 * sizeof(float));
  SplitNorm in;
  in.sums_in = sums.as<float>();
  in.parts = bf.k / 16;
  in.width = bf.k;
  SplitNorm nine = in;
  expect_refused(c, "refused: a consumer at m 9", [&] {
    skinny_gemm_split_norm(x.as<bf16>(), bf.bf16_rows.as<bf16>(), y.as<bf16>(), 9, bf.n, bf.k, nine, nullptr);
  }, "1..8 rows");
  SplitNorm both = in;
  both.residual = res.as<float>();
  expect_refused(c, "refused: both sides at once", [&] {
    skinny_gemm_split_norm(x.as<bf16>(), bf.bf16_rows.as<bf16>(), y.as<bf16>(), 1, bf.n, bf.k, both, nullptr);
  }, "either side");
  SplitNorm wide = in;
  wide.width = bf.k + 16;
  wide.parts = wide.width / 16;
  expect_refused(c, "refused: a width that is not the GEMV's k", [&] {
    skinny_gemm_split_norm(x.as<bf16>(), bf.bf16_rows.as<bf16>(), y.as<bf16>(), 1, bf.n, bf.k, wide, nullptr);
  }, "width");
  SplitNorm half_producer;
  half_producer.residual = res.as<float>();
  half_producer.parts = q.n / 16;
  half_producer.width = q.n;
  expect_refused(c, "refused: a producer without gamma, scaled and sums_out", [&] {
    quant_gemm_lean(x.as<bf16>(), q.quant->view(), y.as<bf16>(), q.n, 1, 0.f, ws.data(), ws.bytes(), nullptr, -1,
                    half_producer);
  }, "producer");
  expect_refused(c, "refused: a split norm into the silu kernel's producer side", [&] {
    skinny_gemm_silu(x.as<bf16>(), bf.bf16_rows.as<bf16>(), y.as<bf16>(), 1, bf.n / 2, bf.k, nullptr, half_producer);
  }, "only consumes");
}

} // namespace

int main() {
  skip_without_device("split_norm_test");
  std::mt19937 rng(34);
  Checker c;
  try {
    // Llama-3-8B's o_proj -> gate_up shapes scaled down: hidden 2048 (parts 128), intermediate 2816.
    const int hidden = 2048, attn = 2048, inter = 2816;
    {
      const Weight o = bf16_weight(hidden, attn, rng), down = bf16_weight(hidden, inter, rng);
      const Weight qkv = bf16_weight(3072, hidden, rng), gate_up = bf16_weight(2 * inter, hidden, rng);
      check_chain(c, "bf16 o_proj -> qkv", o, qkv, false, rng);
      check_chain(c, "bf16 down -> gate_up", down, gate_up, true, rng);
      const Weight q = quant_weight("gptq sym", hidden, attn, false, rng);
      check_refusals(c, qkv, q);
    }
    for (const std::string kind : {"gptq sym", "gptq act-order", "awq"}) {
      const Weight o = quant_weight(kind, hidden, attn, false, rng), down = quant_weight(kind, hidden, inter, false, rng);
      const Weight qkv = quant_weight(kind, 3072, hidden, false, rng);
      const Weight gate_up = quant_weight(kind, 2 * inter, hidden, true, rng);
      check_chain(c, kind + " o_proj -> qkv", o, qkv, false, rng);
      check_chain(c, kind + " down -> gate_up", down, gate_up, true, rng);
    }
    {
      // The lean kernel's fp8 kernels compile the consumer's side out (kConsumes): their launchers refuse one.
      const Weight qkv = quant_weight("fp8", 3072, hidden, false, rng);
      DeviceBuffer x(size_t(4) * hidden * sizeof(bf16)), y(size_t(4) * 3072 * sizeof(bf16)), sums(1 << 16), ws(1 << 20);
      SplitNorm in;
      in.sums_in = sums.as<float>();
      in.parts = hidden / 16;
      in.width = hidden;
      expect_refused(c, "refused: an fp8 consumer", [&] {
        quant_gemm_lean(x.as<bf16>(), qkv.quant->view(), y.as<bf16>(), 3072, 1, 0.f, ws.data(), ws.bytes(), nullptr, -1,
                        in);
      }, "only int4");
    }
    // Llama-3-8B's own widths once (hidden 4096: 256 tile sums a row), bf16 and GPTQ.
    {
      const Weight o = bf16_weight(4096, 4096, rng), qkv = bf16_weight(6144, 4096, rng);
      check_chain(c, "bf16 4096 o_proj -> qkv", o, qkv, false, rng);
      const Weight go = quant_weight("gptq sym", 4096, 4096, false, rng);
      const Weight gu = quant_weight("gptq sym", 2 * 4096, 4096, true, rng);
      check_chain(c, "gptq 4096 o_proj -> gate_up", go, gu, true, rng);
    }
  } catch (const std::exception& e) {
    c.expect_true(std::string("no exception: ") + e.what(), false);
  }
  return c.finish("split_norm_test");
}
