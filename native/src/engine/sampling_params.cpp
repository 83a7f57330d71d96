// Range checks for SamplingParams, with vLLM's bounds and messages that name the parameter.
#include "engine/sampling_params.h"

#include <sstream>

#include "error.h"

namespace pagoda {

namespace {

template <typename T> [[noreturn]] void reject(const char* name, const char* rule, T got) {
  std::ostringstream os;
  os << name << " must be " << rule << ", got " << got << ".";
  throw Error(os.str());
}

} // namespace

void validate_sampling_params(const SamplingParams& p, int32_t vocab_size) {
  if (p.n < 1) reject("n", "at least 1", p.n);
  if (!(p.temperature >= 0.0)) reject("temperature", "non-negative", p.temperature);
  if (!(p.top_p > 0.0 && p.top_p <= 1.0)) reject("top_p", "in (0, 1]", p.top_p);
  if (p.top_k < -1 || p.top_k == 0) reject("top_k", "-1 (disable) or at least 1", p.top_k);
  if (!(p.min_p >= 0.0 && p.min_p <= 1.0)) reject("min_p", "in [0, 1]", p.min_p);
  if (!(p.repetition_penalty > 0.0 && p.repetition_penalty <= 2.0)) {
    reject("repetition_penalty", "in (0, 2]", p.repetition_penalty);
  }
  if (!(p.presence_penalty >= -2.0 && p.presence_penalty <= 2.0)) {
    reject("presence_penalty", "in [-2, 2]", p.presence_penalty);
  }
  if (!(p.frequency_penalty >= -2.0 && p.frequency_penalty <= 2.0)) {
    reject("frequency_penalty", "in [-2, 2]", p.frequency_penalty);
  }
  if (p.max_tokens != -1 && p.max_tokens < 1) reject("max_tokens", "at least 1", p.max_tokens);
  if (p.min_tokens < 0) reject("min_tokens", "non-negative", p.min_tokens);
  if (p.max_tokens != -1 && p.min_tokens > p.max_tokens) {
    std::ostringstream os;
    os << "min_tokens must be less than or equal to max_tokens=" << p.max_tokens << ", got "
       << p.min_tokens << ".";
    throw Error(os.str());
  }
  if (p.logprobs < -1) reject("logprobs", "non-negative", p.logprobs);
  if (p.logprobs > kMaxLogprobs) {
    std::ostringstream os;
    os << "logprobs must be at most " << kMaxLogprobs << " (max_logprobs), got " << p.logprobs
       << ".";
    throw Error(os.str());
  }
  if (p.prompt_logprobs < -1) reject("prompt_logprobs", "non-negative", p.prompt_logprobs);
  if (p.prompt_logprobs > kMaxLogprobs) {
    std::ostringstream os;
    os << "prompt_logprobs must be at most " << kMaxLogprobs << " (max_logprobs), got " << p.prompt_logprobs << ".";
    throw Error(os.str());
  }
  for (int32_t id : p.stop_token_ids) {
    if (id < 0 || id >= vocab_size) {
      std::ostringstream os;
      os << "stop_token_ids must be token ids in [0, " << vocab_size << "), got " << id << ".";
      throw Error(os.str());
    }
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab_size) {
      std::ostringstream os;
      os << "logit_bias keys must be token ids in [0, " << vocab_size << "), got " << id << ".";
      throw Error(os.str());
    }
    if (!(bias >= -100.0f && bias <= 100.0f)) reject("logit_bias values", "in [-100, 100]", bias);
  }
}

} // namespace pagoda
