// Reads the runtime's ModelFacts off the loader's ModelConfig.
#include "engine/model_facts.h"

#include "model/model_config.h"

namespace pagoda {

ModelFacts model_facts_of(const ModelConfig& config) {
  ModelFacts f;
  f.architecture = config.architecture;
  f.vocab_size = config.vocab_size;
  f.max_position_embeddings = config.max_position_embeddings;
  f.eos_token_ids = config.eos_token_ids;
  f.bos_token_id = config.bos_token_id;
  f.dtype = dtype_name(config.dtype);
  return f;
}

} // namespace pagoda
