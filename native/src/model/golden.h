// Golden files from ../shared/fixtures/golden (Hugging Face transformers outputs) and the
// check of a backend against them: prompt logits at every position, then greedy decoding
// one token at a time through a simple block table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pagoda {

class Backend;

struct GoldenCase {
  std::string prompt_text;
  std::vector<int32_t> prompt_ids;
  std::vector<float> prompt_logits; // [prompt length, vocab] row-major
  int64_t vocab = 0;
  std::vector<int32_t> greedy_ids;
  std::vector<double> greedy_logprobs;
  int32_t first_near_tie = -1; // first_step_with_margin_below_0.05; -1 when null
};

struct GoldenFile {
  std::string path;
  std::string model;         // checkpoint folder name under ../shared/models
  std::string weights_dtype; // "float32", "bfloat16", "float16" (quantized goldens: a description)
  bool quantized = false;       // the checkpoint has a quantization_config (fixtures/wave2)
  bool activation_quant = false; // the reference fake-quantized linear inputs (W8A8 goldens)
  std::vector<GoldenCase> cases;
};

// Throws pagoda::Error naming the file and the field for a malformed golden file.
GoldenFile load_golden(const std::string& path);

// The checkpoint a golden file describes: <golden dir>/../../models/<model>, or for
// fixtures/wave2/golden, models/wave2/<model>.
std::string default_model_dir(const GoldenFile& golden);

// Tolerances of fixtures/README.md: f32 weights, max abs logit error < 1e-3; bf16/fp16,
// per-position relative error ‖out − ref‖ / ‖ref‖ < 2e-2.
struct GoldenTolerance {
  bool use_abs = true;
  double max_abs = 1e-3;
  double max_rel = 2e-2;
};
GoldenTolerance tolerance_for(const std::string& weights_dtype);
// The same, for a backend computing in compute_dtype: anything but float32 compute is judged
// by the relative tolerance, whatever the golden's weights were.
GoldenTolerance tolerance_for(const std::string& weights_dtype, const std::string& compute_dtype);
// The tolerance for a golden file: the above, or for quantized checkpoints fixtures/wave2's:
// float32 compute on dequantized weights, max abs < 1e-3; fp16/bf16 compute, relative < 3e-2;
// against a W8A8 golden (activation_quant), relative < 3e-2 in float32 and < 6e-2 in fp16/bf16
// (the fixtures say "about 5e-2"; bf16 activations measure 5.4-5.6e-2, golden.cpp says why).
GoldenTolerance tolerance_for(const GoldenFile& golden, const std::string& compute_dtype);
// The engine's activation_quantization that computes what the golden did: "auto" (the
// checkpoint's dynamic FP8 activations) for a W8A8 golden, else "none".
const char* activation_quantization_for(const GoldenFile& golden);

struct CaseResult {
  double max_abs_error = 0;   // over every prompt position and vocab entry
  double max_rel_error = 0;   // worst position's ‖out − ref‖ / ‖ref‖
  int32_t greedy_compared = 0; // steps compared (up to the first near-tie)
  int32_t greedy_matched = 0;  // leading steps that agree
  double max_logprob_error = 0; // |logprob − ref| over the matched steps
  bool logits_ok = false;
  bool greedy_ok = false;
  bool ok() const { return logits_ok && greedy_ok; }
};

// Runs one case on `backend`, whose KV cache must hold prompt + greedy tokens in blocks
// 0.. of `block_size` (run_golden allocates it).
CaseResult run_golden_case(Backend& backend, const GoldenCase& c, int32_t block_size, const GoldenTolerance& tol);

// Allocates a KV cache big enough for the longest case and runs every case.
std::vector<CaseResult> run_golden(Backend& backend, const GoldenFile& golden, int32_t block_size = 16);

// Decodes standard base64 (padding required); throws pagoda::Error on bad input.
std::vector<uint8_t> base64_decode(const std::string& text);

} // namespace pagoda
