// CPU checks of which steps take the fused rope + KV-write decode kernel (backend/cuda/fused_rope_decode.h,
// PAGODA_DECODE_FUSED_ROPE): a pure bf16 decode step of Llama-3-8B / Qwen shapes does; the switch off, the
// float32 path, an embedder, an e4m3 KV cache, any prefill tile or prefill token, a cascade group, dynamic
// per-sequence frequencies, a GQA group over 16 (two m-tiles), a rotary_dim off the 16 grid or past
// head_dim, an unsupported head_dim each fall back; and the switch itself is off unless it is "1".
#include <cstdlib>

#include "backend/cuda/fused_rope_decode.h"
#include "check.h"

using namespace pagoda::cuda;

namespace {

FusedRopeStepFacts llama_decode(int batch) {
  FusedRopeStepFacts f;
  f.switch_on = true;
  f.bf16 = true;
  f.num_tokens = batch;
  f.num_decode = batch;
  f.num_q_heads = 32;
  f.num_kv_heads = 8;
  f.head_dim = 128;
  f.rotary_dim = 128;
  return f;
}

} // namespace

int main() {
  // The switch is read once: unset here, so off (the test binary never sets it before this call).
  unsetenv("PAGODA_DECODE_FUSED_ROPE");
  CHECK(!decode_fused_rope_switch());

  for (int batch : {1, 2, 64, 256}) CHECK(fused_rope_decode_applies(llama_decode(batch)));
  auto with = [](auto change) {
    FusedRopeStepFacts f = llama_decode(4);
    change(f);
    return fused_rope_decode_applies(f);
  };
  CHECK(!with([](FusedRopeStepFacts& f) { f.switch_on = false; }));
  CHECK(!with([](FusedRopeStepFacts& f) { f.bf16 = false; }));
  CHECK(!with([](FusedRopeStepFacts& f) { f.pooling = true; }));
  CHECK(!with([](FusedRopeStepFacts& f) { f.kv_fp8 = true; }));
  CHECK(!with([](FusedRopeStepFacts& f) { f.num_tiles = 1; }));                 // a prefill in the step
  CHECK(!with([](FusedRopeStepFacts& f) { f.num_tokens = 5; f.num_decode = 3; })); // chunked prefill rows
  CHECK(!with([](FusedRopeStepFacts& f) { f.num_tokens = 0; f.num_decode = 0; }));
  CHECK(!with([](FusedRopeStepFacts& f) { f.cascade = true; }));
  CHECK(!with([](FusedRopeStepFacts& f) { f.per_seq_freq = true; }));
  // Shapes: Qwen2.5-7B (28/4, group 7), group 16 (one 16-row m-tile), MHA, head_dim 64 / 96 / 256 serve;
  // group 32, rotary 120 / 136 / 0, head_dim 72 / 272 do not.
  auto shape = [](int hq, int hkv, int d, int rot) {
    FusedRopeStepFacts f = llama_decode(1);
    f.num_q_heads = hq;
    f.num_kv_heads = hkv;
    f.head_dim = d;
    f.rotary_dim = rot;
    return fused_rope_decode_applies(f);
  };
  CHECK(shape(28, 4, 128, 128));
  CHECK(shape(16, 1, 128, 128));
  CHECK(shape(8, 8, 64, 64));
  CHECK(shape(16, 2, 96, 96));
  CHECK(shape(8, 2, 256, 256));
  CHECK(shape(32, 8, 128, 64)); // partial rotary
  CHECK(!shape(32, 1, 128, 128));
  CHECK(!shape(24, 1, 128, 128));
  CHECK(!shape(32, 8, 128, 120));
  CHECK(!shape(32, 8, 128, 136));
  CHECK(!shape(32, 8, 128, 0));
  CHECK(!shape(32, 8, 72, 64));
  CHECK(!shape(8, 8, 272, 256));
  CHECK(!shape(30, 8, 128, 128)); // not a whole group
  return finish_checks("fused_rope_decision_test");
}
