// CudaBackend::tune_gemms: the decode GEMMs of the model's float linear layers (and lm_head)
// timed at every decode graph size over the layers' own weights, at load.
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_linear.h"

namespace pagoda::cuda {

void CudaBackend::tune_gemms() {
  if (f32_ || !gemm_tune_enabled_) return;
  const ModelConfig& c = config_;
  // Decode sizes only: from m 384 up cuBLASLt's first choice was within 5% of the best in
  // the kernel bench (`cuda_kernel_bench tune`), and timing those shapes would add seconds to the load.
  std::vector<int> sizes;
  for (int m = 1; m <= graph_batch_size(graph_max_seqs_); m = graph_batch_size(m + 1)) sizes.push_back(m);
  // Only float layers go through cuBLASLt here; a quantized method's kernel tunes itself.
  std::vector<const bf16*> qkv, o, gate_up, down;
  auto weight = [](const LinearLayer& l, std::vector<const bf16*>& out) {
    if (const auto* k = dynamic_cast<const UnquantizedCudaLinear*>(l.kernel.get())) out.push_back(k->weight_bf16());
  };
  for (const CausalLM::Layer& l : model_->layers()) {
    weight(l.qkv_proj, qkv);
    weight(l.o_proj, o);
    weight(l.gate_up_proj, gate_up);
    weight(l.down_proj, down);
  }
  const Param& lm_head = model_->lm_head_tied() ? model_->embed_tokens() : model_->lm_head();
  const int qkv_width = c.q_size() + 2 * c.kv_size();
  cudaStream_t st = stream_.get();
  for (int m : sizes) {
    if (m > act_tokens_) break; // activations not sized for it (no profile() before the cache)
    if (!qkv.empty()) gemm_.tune(h_.as<bf16>(), qkv, qkv_.data(), GemmOutput::kBf16, m, qkv_width, c.hidden_size, st);
    if (!o.empty()) gemm_.tune(attn_.as<bf16>(), o, o_.data(), GemmOutput::kBf16, m, c.hidden_size, c.q_size(), st);
    if (!gate_up.empty())
      gemm_.tune(h_.as<bf16>(), gate_up, gate_up_.data(), GemmOutput::kBf16, m, 2 * c.intermediate_size,
                 c.hidden_size, st);
    if (!down.empty())
      gemm_.tune(act_.as<bf16>(), down, o_.data(), GemmOutput::kBf16, m, c.hidden_size, c.intermediate_size, st);
    if (m <= act_rows_)
      gemm_.tune(rows_.as<bf16>(), {device_param<bf16>(lm_head)}, logits_.data(), GemmOutput::kF32, m, c.vocab_size,
                 c.hidden_size, st);
  }
}

} // namespace pagoda::cuda
