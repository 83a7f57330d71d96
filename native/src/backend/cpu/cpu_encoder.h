// The CPU backend of encoder models (bert, xlm_roberta): runs EncoderModel::forward through
// its EncoderOps on float32 [tokens, width] buffers, the batch packed without padding, matmul
// rows and attention (sequence, head) pairs split over a thread pool; pooling and the
// classification head on the host.
#pragma once

#include <memory>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "engine/encoder_device.h"
#include "models/encoder_model.h"

namespace pagoda::cpu {

class CpuEncoder : public EncoderDevice, private EncoderOps {
public:
  CpuEncoder(std::unique_ptr<EncoderModel> model, int num_threads);

  void embed(const PoolingBatch& batch, PoolingMode mode, bool normalize, std::vector<float>& pooled) override;
  void score(const PoolingBatch& batch, std::vector<float>& logits) override;
  std::string compute_dtype() const override { return "float32"; }

  const EncoderModel& model() const { return *model_; }

private:
  void embed(const Param& word, const Param& position, const Param& token_type, const Param& norm_weight,
             const Param& norm_bias) override;
  void linear(const LinearLayer& layer, EncAct in, EncAct out) override;
  void bias_add(EncAct x, const Param& bias) override;
  void attention(EncAct qkv, EncAct out) override;
  void gelu(EncAct x, const Param& bias) override;
  void add_layer_norm(EncAct delta, const Param& delta_bias, const Param& weight, const Param& bias) override;

  // The last hidden state of every token of the batch in hidden_ ([num_tokens, hidden_size]).
  // Throws pagoda::Error for ids, types or positions outside the model's tables.
  void forward(const PoolingBatch& batch);
  float* act(EncAct a);
  int64_t width(EncAct a) const { return encoder_act_width(model_->config(), a); }
  void layer_norm_rows(float* x, const Param& weight, const Param& bias);

  std::unique_ptr<EncoderModel> model_;
  ThreadPool pool_;
  std::vector<float> hidden_, qkv_, attn_, out_, inter_, scratch_, rows_;
  const PoolingBatch* batch_ = nullptr;
};

} // namespace pagoda::cpu
