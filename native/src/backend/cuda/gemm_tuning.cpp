// CudaBackend::tune_gemms: the decode GEMMs of the model's float linear layers (and lm_head), and the fp8 GEMMs of
// its W8A8 layers past the streaming sizes, timed at every decode graph size over the layers' own weights, at load.
// CudaBackend::plan_prompt_gemms: the float layers' plans for every prompt-step m, made at load.
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/quantized_cuda_linear.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace pagoda::cuda {

namespace {

// Every layer's weight of each decode shape that `get` finds (a layer it skips gives nothing).
template <typename W> struct ByShape {
  std::vector<W> qkv, o, gate_up, down;
  bool empty() const { return qkv.empty() && o.empty() && gate_up.empty() && down.empty(); }
};
template <typename W, typename Get> ByShape<W> weights_by_shape(const CausalLM& model, Get&& get) {
  ByShape<W> w;
  auto add = [&](const LinearLayer& l, std::vector<W>& out) {
    if (auto found = get(l)) out.push_back(*found);
  };
  for (const CausalLM::Layer& l : model.layers()) {
    add(l.qkv_proj, w.qkv);
    add(l.o_proj, w.o);
    add(l.gate_up_proj, w.gate_up);
    add(l.down_proj, w.down);
  }
  return w;
}

bool prompt_gemm_planning_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_PLAN_PROMPT_GEMMS");
    return !(v != nullptr && std::string(v) == "0");
  }();
  return on;
}

// PAGODA_TUNE_DECODE_EVERY_CONFIG_FROM=M: the decode sizes from M rows up time every configuration cuBLASLt accepts
// for the four float GEMMs instead of the heuristic's eight (0, the default: none). On the H200 the 129-256-row decode
// steps ran at 65.8% of their roofline, their GEMMs compute-bound at ~60% of the measured peak (NOTES "Session 35"):
// a measurement switch for whether a configuration the heuristic leaves out fills the SMs better there. Each shape and
// bucket gives its coarse first pass at most PAGODA_TUNE_DECODE_EVERY_CONFIG_BUDGET_S (default 0.5 s): timed in full,
// every configuration of the four shapes from 9 rows up took the load past 100 s on an H100 (a graph capture and ~20
// runs a candidate, ~250 a shape).
int decode_every_config_from() {
  static const int from = [] {
    const char* v = std::getenv("PAGODA_TUNE_DECODE_EVERY_CONFIG_FROM");
    return v == nullptr ? 0 : std::max(0, std::atoi(v));
  }();
  return from;
}

double decode_every_config_budget_s() {
  static const double budget = [] {
    const char* v = std::getenv("PAGODA_TUNE_DECODE_EVERY_CONFIG_BUDGET_S");
    return v == nullptr ? 0.5 : std::max(0.0, std::atof(v));
  }();
  return budget;
}

// Steps with prompt tokens are planned up to this many rows (or the token budget, if smaller): past it a
// step's GEMMs take long enough to cover a heuristic search.
constexpr int64_t kPromptGemmMaxRows = 2048;

} // namespace

std::vector<CudaBackend::FloatGemm> CudaBackend::float_gemms() const {
  const ModelConfig& c = config_;
  const ByShape<const bf16*> w = weights_by_shape<const bf16*>(*model_, [](const LinearLayer& l) {
    const auto* k = dynamic_cast<const UnquantizedCudaLinear*>(l.kernel.get());
    return k != nullptr ? std::optional<const bf16*>(k->weight_bf16()) : std::nullopt;
  });
  return {{h_.as<bf16>(), qkv_.data(), c.q_size() + 2 * c.kv_size(), c.hidden_size, w.qkv},
          {attn_.as<bf16>(), o_.data(), c.hidden_size, c.q_size(), w.o},
          {h_.as<bf16>(), gate_up_.data(), 2 * c.intermediate_size, c.hidden_size, w.gate_up},
          {act_.as<bf16>(), o_.data(), c.hidden_size, c.intermediate_size, w.down}};
}

void CudaBackend::tune_gemms() {
  if (f32_ || !gemm_tune_enabled_) return;
  const ModelConfig& c = config_;
  // Decode sizes only: from m 384 up cuBLASLt's first choice was within 5% of the best in
  // the kernel bench (`cuda_kernel_bench tune`), and timing those shapes would add seconds to the load.
  std::vector<int> sizes;
  for (int m = 1; m <= graph_batch_size(graph_max_seqs_); m = graph_batch_size(m + 1)) sizes.push_back(m);
  // Only float layers go through cuBLASLt here; a quantized method's kernel tunes itself.
  const std::vector<FloatGemm> gemms = float_gemms();
  const Param& lm_head = model_->lm_head_tied() ? model_->embed_tokens() : model_->lm_head();
  cudaStream_t st = stream_.get();
  for (int m : sizes) {
    if (m > act_tokens_) break; // activations not sized for it (no profile() before the cache)
    const TuneCandidates candidates = decode_every_config_from() > 0 && m >= decode_every_config_from()
                                          ? TuneCandidates::kEveryConfiguration
                                          : TuneCandidates::kHeuristic;
    for (const FloatGemm& g : gemms)
      if (!g.weights.empty())
        gemm_.tune(g.x, g.weights, g.y, GemmOutput::kBf16, m, g.n, g.k, st, candidates, decode_every_config_budget_s());
    if (m <= act_rows_)
      gemm_.tune(rows_.as<bf16>(), {device_param<bf16>(lm_head)}, logits_.data(), GemmOutput::kF32, m, c.vocab_size,
                 c.hidden_size, st);
  }
  tune_fp8_gemms(sizes);
}

// ShareGPT's steps with prompt tokens each bring a new m to the four shapes, and a trace of them on an H100
// (bench/results/h100-qkv-trace-s33.txt) found the device idle 4.8% of their time, most of it before a step's first
// gate_up, o_proj or down GEMM and before the memset a split-K GEMM starts with: the host searching cuBLASLt's
// heuristic for the new m (~0.15 ms a shape, 555 plans and 116 ms over the run) or the library loading a kernel on
// its first launch, while the device has run dry. Every m of the range is planned here instead: ~1,800 m x 4
// shapes for the token budget of 2,048, about a second of load; larger budgets plan up to kPromptGemmMaxRows.
void CudaBackend::plan_prompt_gemms() {
  if (f32_ || !prompt_gemm_planning_enabled()) return;
  const std::vector<FloatGemm> gemms = float_gemms();
  const int first = std::max(graph_batch_size(graph_max_seqs_), kSkinnyGemmMaxRows) + 1;
  const int last = static_cast<int>(std::min(act_tokens_, kPromptGemmMaxRows));
  cudaStream_t st = stream_.get();
  for (int m = first; m <= last; ++m)
    for (const FloatGemm& g : gemms)
      if (!g.weights.empty()) gemm_.prepare(g.x, g.weights.front(), g.y, GemmOutput::kBf16, m, g.n, g.k, st);
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(st));
}

// W8A8 fp8 layers past the streaming sizes run cuBLASLt's fp8 GEMM; with its scale modes the library's one algorithm
// ran Llama-3-8B's o_proj and down at batch 64 on 32 CTAs (bench/results/h200-kernel-trace-fp8-dynamic-b64-*.txt),
// so its unit-scale algorithms (with the scales applied after) are timed beside it.
void CudaBackend::tune_fp8_gemms(const std::vector<int>& sizes) {
  using Fp8Weight = std::pair<const uint8_t*, const float*>; // codes, per-channel scales
  const ByShape<Fp8Weight> fp8 = weights_by_shape<Fp8Weight>(*model_, [](const LinearLayer& l) {
    const auto* q = dynamic_cast<const QuantizedCudaLinear*>(l.kernel.get());
    const QuantizedWeight* w = q != nullptr ? q->fp8_gemm_weight() : nullptr;
    if (w == nullptr) return std::optional<Fp8Weight>();
    return std::optional<Fp8Weight>({static_cast<const uint8_t*>(w->packed), static_cast<const float*>(w->scales)});
  });
  if (fp8.empty()) return;
  const auto& [qkv, o, gate_up, down] = fp8;
  const ModelConfig& c = config_;
  const int max_m = static_cast<int>(std::min<int64_t>(act_tokens_, sizes.empty() ? 0 : sizes.back()));
  if (max_m <= fp8_stream_max_rows()) return;
  // Codes and scales of zero take the time any others would; y goes to the activation buffers the layers write.
  const int max_k = std::max({c.hidden_size, c.q_size(), c.intermediate_size});
  DeviceBuffer x_q(size_t(max_m) * max_k), x_scales(size_t(max_m) * sizeof(float));
  cudaStream_t st = stream_.get();
  PAGODA_CUDA_CHECK(cudaMemsetAsync(x_q.data(), 0, x_q.bytes(), st));
  PAGODA_CUDA_CHECK(cudaMemsetAsync(x_scales.data(), 0, x_scales.bytes(), st));
  const auto* xq = x_q.as<uint8_t>();
  const auto* xs = x_scales.as<float>();
  const int qkv_width = c.q_size() + 2 * c.kv_size();
  for (int m : sizes) {
    if (m <= fp8_stream_max_rows()) continue;
    if (m > max_m) break;
    if (!qkv.empty()) gemm_.tune_fp8(xq, xs, qkv, qkv_.as<bf16>(), m, qkv_width, c.hidden_size, st);
    if (!o.empty()) gemm_.tune_fp8(xq, xs, o, o_.as<bf16>(), m, c.hidden_size, c.q_size(), st);
    if (!gate_up.empty()) gemm_.tune_fp8(xq, xs, gate_up, gate_up_.as<bf16>(), m, 2 * c.intermediate_size, c.hidden_size, st);
    if (!down.empty()) gemm_.tune_fp8(xq, xs, down, o_.as<bf16>(), m, c.hidden_size, c.intermediate_size, st);
  }
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(st)); // x_q and x_scales go out of scope
}

} // namespace pagoda::cuda
