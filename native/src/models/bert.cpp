// BertModel and BertForSequenceClassification: tensor names (the classifier's under "bert."),
// position ids 0..T-1, token_type_ids as the tokenizer gives them; the head is the pooler
// (dense + tanh on [CLS]) followed by `classifier`.
#include "models/encoder_model.h"

namespace pagoda {

std::unique_ptr<EncoderModel> make_bert(const EncoderConfig& config, const std::string& dir, bool dummy, DType dtype,
                                        uint64_t seed) {
  const bool classifier = config.num_labels > 0;
  EncoderModel::Naming naming;
  naming.base = classifier ? "bert." : "";
  naming.head_dense = "bert.pooler.dense";
  naming.head_out = "classifier";
  return std::make_unique<EncoderModel>(config, naming, dir, dummy, dtype, seed);
}

} // namespace pagoda
