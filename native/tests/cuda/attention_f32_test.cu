// Checks the float32 paged attention (attention_f32.cu) against the double CPU reference:
// random float32 K/V scattered through shuffled block tables, one mixed batch per layout of
// prefill, chunked prefill after a cached prefix, and decode rows, for head_dim 8 / 64 / 128,
// GQA and MQA, block sizes 16 and 32.
#include <algorithm>
#include <numeric>

#include "backend/cuda/kernels.h"
#include "test_support.h"
#include "device_paged_batch.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

const char* kind(const SeqSpec& s) {
  if (s.query_len == 1) return "decode";
  return s.query_len == s.context_len ? "prefill" : "chunked";
}

void run_case(Checker& c, std::mt19937& rng, const AttentionLayout& lay, const std::vector<SeqSpec>& seqs) {
  const int num_seqs = static_cast<int>(seqs.size());
  const PagedBatch batch =
      make_paged_batch(lay, seqs, rng, 3, [&](size_t n, float scale) { return random_f32_values(n, rng, scale); });
  DevicePagedBatch<float> d = upload_paged_batch<float>(batch, lay);
  poison(d.out);
  paged_attention_f32(d.args, batch.num_tokens, num_seqs, 0);
  const std::vector<float> out = download<float>(d.out, d.out_elems);
  const auto& query_start = batch.query_start;
  const int64_t q_width = batch.q_width;
  for (int s = 0; s < num_seqs; ++s) {
    std::vector<float> got(out.begin() + size_t(query_start[s]) * q_width,
                           out.begin() + size_t(query_start[s + 1]) * q_width);
    c.expect(std::string(kind(seqs[s])) + " " + d.tag + " q " + std::to_string(seqs[s].query_len) + " ctx " +
                 std::to_string(seqs[s].context_len),
             compare(got, batch.refs[s]), 1e-5, 1e-5);
  }
}

} // namespace

int main() {
  skip_without_device("attention_f32_test");
  std::mt19937 rng(20261125);
  Checker c;
  // Per batch: a prefill longer than one 128-key chunk, a short prefill, chunked prefills
  // after cached prefixes (one ending inside a block, one on a block edge), decode rows at
  // context 1, inside the first chunk, and past several chunks and blocks.
  const std::vector<SeqSpec> batch = {{150, 150}, {5, 5}, {37, 300}, {16, 64}, {1, 1}, {1, 77}, {1, 517}};
  const std::vector<AttentionLayout> layouts = {
      {8, 4, 8, 16},   {8, 4, 8, 32},   // stories260k: GQA 8/4, head_dim 8
      {8, 1, 8, 16},                    // MQA
      {8, 4, 64, 16},  {8, 1, 64, 32},  // stories260k-hd64 shape, MQA
      {8, 4, 128, 32}, {8, 8, 128, 16}, // GQA and MHA at head_dim 128
  };
  try {
    for (const AttentionLayout& lay : layouts) run_case(c, rng, lay, batch);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("attention_f32_test");
}
