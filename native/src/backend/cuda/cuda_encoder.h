// The CUDA backend of encoder models (bert, xlm_roberta): EncoderModel::forward through its
// EncoderOps on bf16 [tokens, width] activations, the batch packed without padding (attention
// per sequence, cu_seqlens style), linear layers through cuBLASLt with their biases folded into
// the kernels after them, pooling + L2 normalization and the classification head on the device.
#pragma once

#include <memory>
#include <vector>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/encoder_kernels.h"
#include "backend/cuda/stream.h"
#include "engine/encoder_device.h"
#include "models/encoder_model.h"

namespace pagoda::cuda {

class CudaEncoder : public EncoderDevice, private EncoderOps {
public:
  explicit CudaEncoder(std::unique_ptr<EncoderModel> model);
  ~CudaEncoder() override;

  void embed(const PoolingBatch& batch, PoolingMode mode, bool normalize, std::vector<float>& pooled) override;
  void score(const PoolingBatch& batch, std::vector<float>& logits) override;
  std::string compute_dtype() const override { return "bfloat16"; }

  const EncoderModel& model() const { return *model_; }

private:
  void embed(const Param& word, const Param& position, const Param& token_type, const Param& norm_weight,
             const Param& norm_bias) override;
  void linear(const LinearLayer& layer, EncAct in, EncAct out) override;
  void bias_add(EncAct x, const Param& bias) override;
  void attention(EncAct qkv, EncAct out) override;
  void gelu(EncAct x, const Param& bias) override;
  void add_layer_norm(EncAct delta, const Param& delta_bias, const Param& weight, const Param& bias) override;

  // Validates and uploads the batch, then runs the model: hidden_ holds the last hidden states.
  void run(const PoolingBatch& batch);
  void ensure(int64_t tokens, int64_t seqs);
  bf16* act(EncAct a) const;
  int width(EncAct a) const { return static_cast<int>(encoder_act_width(model_->config(), a)); }

  std::unique_ptr<EncoderModel> model_;
  Stream stream_;
  CublasLt gemm_;
  DeviceBuffer hidden_, qkv_, attn_, out_, inter_; // [tokens, width] bf16
  DeviceBuffer inputs_;                            // ids, positions, types [tokens], seq_start [seqs + 1]
  DeviceBuffer pooled_, head_rows_, head_dense_, logits_;
  PinnedBuffer host_inputs_, host_out_;
  int64_t token_capacity_ = 0, seq_capacity_ = 0;
  // The step in flight.
  int num_tokens_ = 0, num_seqs_ = 0, max_seq_len_ = 0;
  const int32_t *ids_ = nullptr, *positions_ = nullptr, *types_ = nullptr, *seq_start_ = nullptr;
};

} // namespace pagoda::cuda
