// An encoder (BERT family) as its architecture file states it: config, parameters (q/k/v
// fused, biases concatenated) and forward() over EncoderOps, plus the sequence-classification
// head cross-encoders put on the first token. bert.cpp and xlm_roberta.cpp fill in what differs:
// tensor names, position ids, the head.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "model/dtype.h"
#include "models/encoder_ops.h"

namespace pagoda {

class SafetensorsCheckpoint;

struct EncoderConfig {
  std::string source;       // config.json path, for messages
  std::string architecture; // BertModel | XLMRobertaModel | BertForSequenceClassification | XLMRobertaForSequenceClassification
  int32_t hidden_size = 0;
  int32_t intermediate_size = 0;
  int32_t num_hidden_layers = 0;
  int32_t num_attention_heads = 0;
  int32_t head_dim = 0;
  int32_t vocab_size = 0;
  int32_t max_position_embeddings = 0;
  int32_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int32_t pad_token_id = 0;
  int32_t position_offset = 0; // position id of the first token: 0 (BERT), padding_idx + 1 (XLM-R)
  int32_t num_labels = 0;      // 0: no classification head (an embedding model)
  DType dtype = DType::F32;

  // The longest input the position table allows.
  int32_t max_tokens() const { return max_position_embeddings - position_offset; }
};

// The architectures this file family runs, for messages and for telling them from decoders.
bool is_encoder_architecture(const std::string& architecture);

// Reads `<dir>/config.json` (or a config.json path). Throws pagoda::Error naming the field.
EncoderConfig load_encoder_config(const std::string& path);

class EncoderModel {
public:
  struct Layer {
    LinearLayer qkv_proj, o_proj, up_proj, down_proj;
    Param qkv_bias, o_bias, up_bias, down_bias;
    Param attn_norm_weight, attn_norm_bias, out_norm_weight, out_norm_bias;
  };
  // The classification head on the first token: dense + tanh, then the output projection
  // (BERT: pooler.dense then classifier; XLM-R: classifier.dense then classifier.out_proj).
  struct Head {
    LinearLayer dense, out;
    Param dense_bias, out_bias;
  };

  // Naming of one architecture's checkpoint tensors.
  struct Naming {
    std::string base;        // "" or "bert." / "roberta." before embeddings / encoder
    std::string head_dense;  // prefix of the head's dense linear
    std::string head_out;    // prefix of the head's output linear
  };

  // From the checkpoint folder, or random weights (load_format "dummy") in `dummy_dtype`.
  EncoderModel(EncoderConfig config, const Naming& naming, const std::string& dir, bool dummy, DType dummy_dtype,
               uint64_t seed);
  ~EncoderModel();
  EncoderModel(const EncoderModel&) = delete;
  EncoderModel& operator=(const EncoderModel&) = delete;

  // The packed batch → the last hidden state of every token in EncAct::kHidden.
  void forward(EncoderOps& ops) const;
  // logits[num_labels] of the head from the first token's last hidden state (float32, host).
  std::vector<float> classify(const float* first_token_hidden) const;

  const EncoderConfig& config() const { return config_; }
  const std::vector<Layer>& layers() const { return layers_; }
  bool has_head() const { return config_.num_labels > 0; }
  size_t weight_bytes() const;

  // For backends preparing their copies at load.
  template <class Fn> void for_each_param(Fn&& fn) {
    for (Param* p : {&word_, &position_, &token_type_, &embed_norm_weight_, &embed_norm_bias_}) fn(*p);
    for (Layer& l : layers_)
      for (Param* p : {&l.qkv_bias, &l.o_bias, &l.up_bias, &l.down_bias, &l.attn_norm_weight, &l.attn_norm_bias,
                       &l.out_norm_weight, &l.out_norm_bias})
        fn(*p);
  }
  // Every linear layer (the head's too), for backends preparing their kernels at load.
  template <class Fn> void for_each_linear(Fn&& fn) {
    for (Layer& l : layers_)
      for (LinearLayer* p : {&l.qkv_proj, &l.o_proj, &l.up_proj, &l.down_proj}) fn(*p);
    if (has_head())
      for (LinearLayer* p : {&head_.dense, &head_.out}) fn(*p);
  }
  // The head's biases, for backends preparing their copies (for_each_param leaves them out:
  // the CPU's classify reads them as stored).
  template <class Fn> void for_each_head_param(Fn&& fn) {
    if (has_head())
      for (Param* p : {&head_.dense_bias, &head_.out_bias}) fn(*p);
  }
  const Head& head() const { return head_; }
  const Param& embed_norm_weight() const { return embed_norm_weight_; }
  const Param& embed_norm_bias() const { return embed_norm_bias_; }
  const Param& word_embeddings() const { return word_; }
  const Param& position_embeddings() const { return position_; }
  const Param& token_type_embeddings() const { return token_type_; }

private:
  Param param(const std::string& name, std::vector<int64_t> shape);
  LinearLayer linear(const std::string& layer_name, std::vector<std::string> prefixes, int64_t out, int64_t in);

  EncoderConfig config_;
  bool dummy_;
  DType dummy_dtype_;
  uint64_t seed_;
  uint64_t stream_ = 0;
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;
  std::deque<TensorView> views_; // stable addresses: Params point into it
  std::vector<std::vector<uint8_t>> owned_;
  std::vector<std::unique_ptr<LinearMethod>> methods_;
  Param word_, position_, token_type_, embed_norm_weight_, embed_norm_bias_;
  std::vector<Layer> layers_;
  Head head_;
};

// Columns of one token's row of activation `a` (kQkv: q, k and v; kInter: the MLP's width).
int64_t encoder_act_width(const EncoderConfig& config, EncAct a);

// Throws pagoda::Error for an empty or inconsistent batch, or ids, types or positions outside
// the model's tables (every backend checks before its forward).
void validate_pooling_batch(const EncoderConfig& config, const PoolingBatch& batch);

// The architecture config.architecture names; throws pagoda::Error for any other.
std::unique_ptr<EncoderModel> create_encoder_model(const EncoderConfig& config, const std::string& dir, bool dummy,
                                                   DType dummy_dtype, uint64_t seed);

// One per architecture file.
std::unique_ptr<EncoderModel> make_bert(const EncoderConfig& config, const std::string& dir, bool dummy, DType dtype,
                                        uint64_t seed);
std::unique_ptr<EncoderModel> make_xlm_roberta(const EncoderConfig& config, const std::string& dir, bool dummy,
                                               DType dtype, uint64_t seed);

} // namespace pagoda
