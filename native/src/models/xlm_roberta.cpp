// XLMRobertaModel and XLMRobertaForSequenceClassification (bge-m3, bge-reranker-v2-m3): BERT's
// layers under "roberta.", position ids from padding_idx + 1 (set by EncoderConfig), one token
// type; the head is classifier.dense + tanh then classifier.out_proj on <s>.
#include "models/encoder_model.h"

namespace pagoda {

std::unique_ptr<EncoderModel> make_xlm_roberta(const EncoderConfig& config, const std::string& dir, bool dummy,
                                               DType dtype, uint64_t seed) {
  const bool classifier = config.num_labels > 0;
  EncoderModel::Naming naming;
  naming.base = classifier ? "roberta." : "";
  naming.head_dense = "classifier.dense";
  naming.head_out = "classifier.out_proj";
  return std::make_unique<EncoderModel>(config, naming, dir, dummy, dtype, seed);
}

} // namespace pagoda
