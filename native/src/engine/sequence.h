// One output sequence of a request: its tokens (prompt then output), where it is in the
// scheduler, its KV block table and prefix-cache chain, its sampling settings and its own RNG.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/sampling_params.h"

namespace pagoda {

enum class SequenceStatus { Waiting, Running, Finished };
enum class FinishReason { None, Stop, Length, Abort };

const char* finish_reason_name(FinishReason reason); // "stop" | "length" | "abort" | ""

struct Sequence {
  int64_t seq_id = 0;
  std::string request_id;
  int32_t index = 0; // which of the request's n outputs
  std::vector<int32_t> token_ids; // prompt followed by output
  int32_t num_prompt_tokens = 0;
  // Tokens whose K/V are in the cache. The last sampled token is not computed until the next step.
  int32_t num_computed_tokens = 0;
  // Prompt tokens found in the prefix cache when the sequence was (last) admitted.
  int32_t num_cached_tokens = 0;
  std::vector<int32_t> block_table;
  // Prefix-cache chain: hash of each full block of block_table registered so far.
  std::vector<uint64_t> block_hashes;
  SequenceStatus status = SequenceStatus::Waiting;
  FinishReason finish_reason = FinishReason::None;
  int32_t stop_token_id = -1; // the token that caused a Stop finish
  std::shared_ptr<const SamplingParams> params;
  int32_t max_tokens = 0; // resolved: params.max_tokens, or what max_model_len leaves
  std::mt19937_64 rng;
  // n > 1 with prefix caching: this sibling waits until sequence 0 has computed the prompt,
  // so it can share the prompt's full blocks through the cache.
  std::shared_ptr<const Sequence> prefill_leader;
  // Launched ahead (async device sampling): token_ids[pending_token] is a placeholder, -1 - r,
  // for the id the step in flight samples for its row r; -1 when none.
  int32_t pending_token = -1;
  // Structured output (params->constrained): the allowed-token bitmask for output position
  // token_mask_position (bit t of word t / 32 set: token t may be sampled), set by
  // LLMEngine::set_token_mask; a token is sampled only once the position matches.
  std::vector<uint32_t> token_mask;
  int32_t token_mask_position = -1;
  // Prompt logprobs (params->prompt_logprobs >= 0, output 0 only): the next prompt position whose
  // token's logprob is due (position 0 has none).
  int32_t prompt_logprobs_next = 1;

  bool wants_prompt_logprobs() const {
    return params->prompt_logprobs >= 0 && index == 0 && prompt_logprobs_next < num_prompt_tokens;
  }

  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  bool is_finished() const { return status == SequenceStatus::Finished; }
  bool prompt_computed() const { return num_computed_tokens >= num_prompt_tokens; }
};

} // namespace pagoda
