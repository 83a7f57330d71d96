// The CUDA backend's bf16 rounding chain, replayed on the host for the wave2 FP8 W8A8 goldens:
// how far the GPU's bf16 activations put a W8A8 model from its float32 golden, and which roundings
// matter (no GPU needed). A plain Llama forward over one prompt (prompt logits, what max_rel
// measures), with the roundings the CUDA kernels make, each switchable:
//   - every activation buffer is bf16 (q/k/v, RoPE'd q/k, attention output, the o / gate_up /
//     down outputs, the normed hidden state, silu(gate) * up); the residual stream stays float32;
//   - attention rounds P to bf16 for P·V and sums the rounded P (attention_prefill.cu);
//   - each W8A8 linear quantizes its input per token or per token and 128 columns, s = max(|x|,
//     1e-12) / 448, codes e4m3(x / s), multiplies exactly and stores its output (bf16 or float32).
// "fused" variants quantize the normed hidden state and silu(gate) * up from their float32 value
// (what the CUDA norm / SiLU·mul kernels do for W8A8 checkpoints, fp8_fuse.cuh) and store e4m3 * s
// in bf16 ("exact": in float32).
// `w8a8_rounding_test sites` prints the effect of each rounding alone (for NOTES.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/cpu/simd.h"
#include "engine/engine_config.h"
#include "model/dtype.h"
#include "model/fp8.h"
#include "model/golden.h"
#include "model/model_loader.h"
#include "backend/backend.h"
#include "models/fp8_linear.h"
#include "test_util.h"

using namespace pagoda;

namespace {

float round_bf16(float v) { return bf16_to_f32(f32_to_bf16(v)); }

struct Chain {
  const char* name;
  bool bf16 = false;        // activations stored as bf16 (the CUDA backend), else float32 throughout
  bool fused_norm = false;  // rms_norm outputs quantized from their float32 value
  bool fused_mlp = false;   // silu(gate) * up likewise
  bool fused_exact = false; // the fused outputs stored as float32 e4m3 * s (else bf16-rounded)
  bool cuda_paths = false;  // each linear as QuantizedCudaLinear runs it (see linear())
  unsigned keep_f32 = 0;    // sites kept float32 in a bf16 chain (bits of Site)
};
// Where the bf16 chain rounds.
enum Site : unsigned {
  kQkvOut = 1, kRope = 2, kP = 4, kAttnOut = 8, kOOut = 16, kGateUpOut = 32, kDownOut = 64, kNormOut = 128, kMlpOut = 256,
  kAllSites = 511
};
const char* const kSiteNames[] = {"q/k/v out", "RoPE out", "P", "attention out", "o_proj out",
                                  "gate/up out", "down out", "norm out", "silu*up out"};
bool rounds(const Chain& ch, Site s) { return ch.bf16 && !(ch.keep_f32 & s); }

std::vector<float> vec_of(const TensorView& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = cpu::load_any(t.dtype, t.data, i);
  return v;
}

struct DenseLinear {
  int64_t out = 0, in = 0;
  std::vector<float> w; // [out, in], the exact dequantization
  ActivationQuant aq = ActivationQuant::kNone;
};

DenseLinear dense(const LinearMethod& m) {
  DenseLinear d;
  d.out = m.out_features();
  d.in = m.in_features();
  d.w.resize(static_cast<size_t>(d.out * d.in));
  m.dequantize_rows(0, d.out, d.w.data());
  d.aq = m.activation_quant();
  return d;
}

// Per token (group = cols) or per token and 128 columns, from whatever x holds, then bf16(code * s)
// when the chain stores bf16: what the fused kernels write.
void fake_quant_store(ActivationQuant aq, float* x, int64_t rows, int64_t cols, bool bf16) {
  fp8_quantize_activations(aq, x, rows, cols);
  if (bf16)
    for (int64_t i = 0; i < rows * cols; ++i) x[i] = round_bf16(x[i]);
}

void store(float* x, int64_t n, bool bf16) {
  if (bf16)
    for (int64_t i = 0; i < n; ++i) x[i] = round_bf16(x[i]);
}

// y[t, :] = quant(x[t, :]) · Wᵀ, rounded as the chain stores. cuda_paths: as QuantizedCudaLinear
// (and CudaOps, which passes a fused norm's / SiLU·mul's output on as already quantized)
// computes a W8A8 layer in bf16 for a prompt of T tokens: up to 32 rows quant_gemm takes x as
// bf16(e4m3(x / s) * s); past 32 rows cuBLASLt's fp8 GEMM multiplies the codes exactly (both scale
// modes serve m > 1 on the H200's cuBLASLt 13.1, NOTES.md).
std::vector<float> linear(const DenseLinear& l, const std::vector<float>& x, int64_t T, bool bf16,
                          bool cuda_paths = false, bool prefused = false) {
  std::vector<float> xq(x);
  // An input its kernel already fake-quantized goes to quant_gemm as it is (up to 32 rows); the
  // larger paths quantize it again (same codes, the scale of the stored maximum).
  if (!(cuda_paths && prefused && T <= 32)) fp8_quantize_activations(l.aq, xq.data(), T, l.in);
  const bool fake_bf16 = cuda_paths && l.aq != ActivationQuant::kNone && T <= 32;
  if (fake_bf16) store(xq.data(), static_cast<int64_t>(xq.size()), true);
  std::vector<float> y(static_cast<size_t>(T * l.out));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < l.out; ++o) {
      double acc = 0; // f32 accumulation order differs on the GPU; double keeps this side exact
      const float* a = &xq[t * l.in];
      const float* b = &l.w[o * l.in];
      for (int64_t i = 0; i < l.in; ++i) acc += double(a[i]) * b[i];
      y[t * l.out + o] = static_cast<float>(acc);
    }
  store(y.data(), static_cast<int64_t>(y.size()), bf16);
  return y;
}

struct Model {
  ModelConfig c;
  std::vector<float> embed, final_norm;
  struct Layer {
    std::vector<float> in_norm, post_norm;
    DenseLinear q, k, v, o, gate, up, down;
  };
  std::vector<Layer> layers;
  ActivationQuant aq = ActivationQuant::kNone;
};

Model load(const std::string& dir, const char* activations = "auto") {
  EngineConfig e;
  e.model = dir;
  e.activation_quantization = activations;
  LoadedModel lm = load_model(e);
  Model m;
  m.c = lm.config;
  m.embed = vec_of(lm.weights.embed_tokens);
  m.final_norm = vec_of(lm.weights.norm);
  for (const auto& l : lm.weights.layers) {
    Model::Layer d;
    d.in_norm = vec_of(l.input_layernorm);
    d.post_norm = vec_of(l.post_attention_layernorm);
    d.q = dense(*l.q_proj), d.k = dense(*l.k_proj), d.v = dense(*l.v_proj), d.o = dense(*l.o_proj);
    d.gate = dense(*l.gate_proj), d.up = dense(*l.up_proj), d.down = dense(*l.down_proj);
    m.aq = d.q.aq;
    m.layers.push_back(std::move(d));
  }
  return m;
}

// out = weight * (x * rsqrt(mean(x^2) + eps)) per token, then stored (or quantized in the kernel).
std::vector<float> rms_norm(const Model& m, const std::vector<float>& x, const std::vector<float>& w, int64_t T,
                            const Chain& ch, bool quantize) {
  const int64_t H = m.c.hidden_size;
  std::vector<float> out(static_cast<size_t>(T * H));
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < H; ++i) ss += double(x[t * H + i]) * x[t * H + i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / H + m.c.rms_norm_eps));
    for (int64_t i = 0; i < H; ++i) out[t * H + i] = w[i] * (x[t * H + i] * inv);
  }
  if (quantize) fake_quant_store(m.aq, out.data(), T, H, ch.bf16 && !ch.fused_exact);
  else store(out.data(), T * H, rounds(ch, kNormOut));
  return out;
}

// Prompt logits [T, vocab] of `ids` through the chain.
std::vector<float> forward(const Model& m, const std::vector<int32_t>& ids, const Chain& ch) {
  const ModelConfig& c = m.c;
  const int64_t T = static_cast<int64_t>(ids.size()), H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  const int64_t nq = c.num_attention_heads, nkv = c.num_key_value_heads, V = c.vocab_size;
  std::vector<float> x(static_cast<size_t>(T * H));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < H; ++i) x[t * H + i] = m.embed[ids[t] * H + i];
  std::vector<float> inv_freq(static_cast<size_t>(D / 2));
  for (int64_t i = 0; i < D / 2; ++i)
    inv_freq[i] = static_cast<float>(1.0 / std::pow(c.rope_theta, double(2 * i) / double(D)));
  const bool w8a8 = m.aq != ActivationQuant::kNone;
  for (const Model::Layer& l : m.layers) {
    std::vector<float> h = rms_norm(m, x, l.in_norm, T, ch, w8a8 && ch.fused_norm);
    const bool rq = rounds(ch, kQkvOut);
    const bool cp = ch.cuda_paths;
    const bool hf = w8a8 && ch.fused_norm, mf = w8a8 && ch.fused_mlp;
    std::vector<float> q = linear(l.q, h, T, rq, cp, hf), k = linear(l.k, h, T, rq, cp, hf),
                       v = linear(l.v, h, T, rq, cp, hf);
    // RoPE (neox halves), in f32 from the stored q / k, stored again.
    auto rope = [&](std::vector<float>& a, int64_t heads) {
      for (int64_t t = 0; t < T; ++t)
        for (int64_t hh = 0; hh < heads; ++hh) {
          float* p = &a[(t * heads + hh) * D];
          for (int64_t i = 0; i < D / 2; ++i) {
            const double ang = double(t) * inv_freq[i];
            const float cs = static_cast<float>(std::cos(ang)), sn = static_cast<float>(std::sin(ang));
            const float x0 = p[i], x1 = p[i + D / 2];
            p[i] = x0 * cs - x1 * sn;
            p[i + D / 2] = x1 * cs + x0 * sn;
          }
        }
      store(a.data(), static_cast<int64_t>(a.size()), rounds(ch, kRope));
    };
    rope(q, nq);
    rope(k, nkv);
    // Causal attention; P rounded to bf16 for P·V and in the normalizer when the chain is bf16.
    std::vector<float> attn(static_cast<size_t>(T * nq * D));
    const double scale = 1.0 / std::sqrt(double(D));
    std::vector<double> s(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t hh = 0; hh < nq; ++hh) {
        const int64_t kh = hh / (nq / nkv);
        double mx = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < D; ++i) dot += double(q[(t * nq + hh) * D + i]) * k[(j * nkv + kh) * D + i];
          s[j] = dot * scale;
          mx = std::max(mx, s[j]);
        }
        double l_sum = 0;
        std::vector<double> o(static_cast<size_t>(D), 0.0);
        for (int64_t j = 0; j <= t; ++j) {
          float p = static_cast<float>(std::exp(s[j] - mx));
          if (rounds(ch, kP)) p = round_bf16(p);
          l_sum += p;
          for (int64_t i = 0; i < D; ++i) o[i] += double(p) * v[(j * nkv + kh) * D + i];
        }
        for (int64_t i = 0; i < D; ++i) attn[(t * nq + hh) * D + i] = static_cast<float>(o[i] / l_sum);
      }
    store(attn.data(), static_cast<int64_t>(attn.size()), rounds(ch, kAttnOut));
    const std::vector<float> o = linear(l.o, attn, T, rounds(ch, kOOut), ch.cuda_paths);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    h = rms_norm(m, x, l.post_norm, T, ch, w8a8 && ch.fused_norm);
    const std::vector<float> g = linear(l.gate, h, T, rounds(ch, kGateUpOut), cp, hf),
                             u = linear(l.up, h, T, rounds(ch, kGateUpOut), cp, hf);
    std::vector<float> act(static_cast<size_t>(T * I));
    for (int64_t i = 0; i < T * I; ++i) act[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
    if (w8a8 && ch.fused_mlp) fake_quant_store(m.aq, act.data(), T, I, ch.bf16 && !ch.fused_exact);
    else store(act.data(), T * I, rounds(ch, kMlpOut));
    const std::vector<float> d = linear(l.down, act, T, rounds(ch, kDownOut), cp, mf);
    for (size_t i = 0; i < x.size(); ++i) x[i] += d[i];
  }
  const std::vector<float> h = rms_norm(m, x, m.final_norm, T, ch, false); // lm_head is not quantized
  std::vector<float> logits(static_cast<size_t>(T * V));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t w = 0; w < V; ++w) {
      double acc = 0;
      for (int64_t i = 0; i < H; ++i) acc += double(h[t * H + i]) * m.embed[w * H + i];
      logits[t * V + w] = static_cast<float>(acc);
    }
  return logits;
}

// The golden's measure: per position ‖out − ref‖ / ‖ref‖, the worst over positions and cases.
double worst_rel(const Model& m, const GoldenFile& g, const Chain& ch) {
  double worst = 0;
  for (const GoldenCase& gc : g.cases) {
    const std::vector<float> out = forward(m, gc.prompt_ids, ch);
    const int64_t V = gc.vocab;
    for (size_t t = 0; t < gc.prompt_ids.size(); ++t) {
      double d2 = 0, r2 = 0;
      for (int64_t i = 0; i < V; ++i) {
        const double d = double(out[t * V + i]) - gc.prompt_logits[t * V + i];
        d2 += d * d;
        r2 += double(gc.prompt_logits[t * V + i]) * gc.prompt_logits[t * V + i];
      }
      worst = std::max(worst, std::sqrt(d2 / std::max(r2, 1e-60)));
    }
  }
  return worst;
}

} // namespace

int main(int argc, char** argv) {
  const std::string root = "../shared";
  const std::string models[] = {"tiny-llama-fp8-dynamic", "tiny-llama-fp8-block"};
  if (argc > 1 && std::string(argv[1]) == "sites") {
    // Each rounding of the bf16 chain alone (every other site float32), then all but it.
    for (const std::string& model : models) {
      const GoldenFile g = load_golden(root + "/fixtures/wave2/golden/" + model + ".w8a8.golden.json");
      const Model m = load(root + "/models/wave2/" + model);
      for (unsigned bit = 0; bit < 9; ++bit) {
        Chain only{"only", true}, but{"all but", true};
        only.keep_f32 = kAllSites & ~(1u << bit);
        but.keep_f32 = 1u << bit;
        std::printf("  %s.w8a8: %-14s rounded alone %.2e, all but it %.2e\n", model.c_str(), kSiteNames[bit],
                    worst_rel(m, g, only), worst_rel(m, g, but));
      }
    }
    return 0;
  }
  const Chain f32{"float32"};
  const Chain gpu{"bf16", true};
  // What the CUDA backend computes by default (norms and SiLU·mul fused; PAGODA_W8A8_FUSED=0 unfuses).
  Chain cuda{"CUDA by default (fused; its linear paths)", true, true, true};
  cuda.cuda_paths = true;
  Chain cuda_unfused{"CUDA with PAGODA_W8A8_FUSED=0 (linears quantize)", true};
  cuda_unfused.cuda_paths = true;
  const Chain fused{"bf16, norm+silu quantized from f32", true, true, true};
  const Chain fused_exact{"bf16, norm+silu e4m3*s kept f32", true, true, true, true};
  int checked = 0;
  for (const std::string& model : models) {
    const std::string dir = root + "/models/wave2/" + model;
    // The host forward itself: the weight-only golden in float32 (same weights, same function).
    const GoldenFile wo = load_golden(root + "/fixtures/wave2/golden/" + model + ".golden.json");
    const Model m_wo = load(dir, "none");
    const double r_wo = worst_rel(m_wo, wo, f32), r_wo_bf16 = worst_rel(m_wo, wo, gpu);
    std::printf("  %s weight-only golden: float32 %.2e, bf16 %.2e (tolerance 3e-2)\n", model.c_str(), r_wo,
                r_wo_bf16);
    CHECK(r_wo < 1e-4);
    // W8A8: the float32 chain is the CPU backend's computation; the bf16 ones the GPU's.
    const GoldenFile g = load_golden(root + "/fixtures/wave2/golden/" + model + ".w8a8.golden.json");
    const Model m = load(dir);
    CHECK(m.aq != ActivationQuant::kNone);
    double cpu_worst = 0;
    {
      EngineConfig e;
      e.model = dir;
      e.device = "cpu";
      e.num_threads = 2;
      e.activation_quantization = "auto";
      auto backend = create_backend(e);
      for (const CaseResult& r : run_golden(*backend, g)) cpu_worst = std::max(cpu_worst, r.max_rel_error);
    }
    const double r_f32 = worst_rel(m, g, f32), r_gpu = worst_rel(m, g, gpu), r_cuda = worst_rel(m, g, cuda);
    const double r_unfused = worst_rel(m, g, cuda_unfused);
    const double r_fused = worst_rel(m, g, fused), r_exact = worst_rel(m, g, fused_exact);
    std::printf("  %s.w8a8 golden, worst rel (tolerance 3e-2 float32, 6e-2 bf16): CPU backend %.2e | host %s %.2e | %s %.2e | %s %.2e | "
                "%s %.2e | %s %.2e | %s %.2e\n",
                model.c_str(), cpu_worst, f32.name, r_f32, gpu.name, r_gpu, cuda.name, r_cuda, cuda_unfused.name,
                r_unfused, fused.name, r_fused, fused_exact.name, r_exact);
    // The host chain in float32 computes what the CPU backend computes (its worst position moves
    // only by float32 summation order)...
    CHECK(std::fabs(r_f32 - cpu_worst) < 2e-3);
    // ... and lands inside the float32 W8A8 tolerance: the CUDA float32 path's prediction.
    CHECK(r_f32 < 3e-2);
    // Every bf16 chain lands inside the bf16 one (what the GPU measured: 5.4-5.6e-2).
    CHECK(r_gpu < 6e-2 && r_cuda < 6e-2 && r_unfused < 6e-2 && r_fused < 6e-2 && r_exact < 6e-2);
    // The bf16 activations are what eats the margin: every bf16 variant lies well above float32.
    CHECK(r_gpu > 1.5 * r_f32 && r_cuda > 1.5 * r_f32 && r_unfused > 1.5 * r_f32 && r_fused > 1.5 * r_f32 &&
          r_exact > 1.5 * r_f32);
    ++checked;
  }
  CHECK(checked == 2);
  return test::finish("w8a8_rounding_test");
}
