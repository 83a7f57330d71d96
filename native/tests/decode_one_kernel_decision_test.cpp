// CPU checks of the one-kernel decode's host side and merge order (backend/cuda/decode_one_kernel.h,
// decode_merge.cuh; PAGODA_DECODE_ONE_KERNEL): the counter scope (none outside it, nested scopes restore, a
// null buffer counts 0, the bound of num_seqs x q heads), the switch off unless "1", and an emulation of the
// two merge orders: paged_attention_decode_merge_kernel's (warp w sums partitions w, w + 4, ... for its lanes'
// column pairs, then the four warps' sums in order) against decode_merge_in_last_block's (thread per (head,
// column pair), four chains side by side) on the same float operations, which must give the same bits for
// every partition count (1..70, fewer than four chains' worth too) and head_dim (pairs not a multiple of 32).
// The float ops are out-of-line so the host compiler contracts nothing, as the device code spells its roundings.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/decode_one_kernel.h"
#include "check.h"

using namespace pagoda::cuda;

namespace {

[[gnu::noinline]] float mul_rn(float a, float b) { return a * b; }
[[gnu::noinline]] float add_rn(float a, float b) { return a + b; }
[[gnu::noinline]] float sub_rn(float a, float b) { return a - b; }
[[gnu::noinline]] float div_rn(float a, float b) { return a / b; }
[[gnu::noinline]] float fma_rn(float a, float b, float c) { return std::fma(a, b, c); }
float weight(float m_i, float l_i, float m) { return mul_rn(l_i, std::exp2(sub_rn(m_i, m))); }

struct Partials {
  int parts, D;
  std::vector<float> o, m, l; // [parts][D], [parts], [parts]
};

float max_m(const Partials& p) {
  float m = -INFINITY;
  for (float x : p.m) m = std::fmax(m, x);
  return m;
}

// The merge kernel's order: 4 warps x 32 lanes, lane owns pairs lane, lane + 32, ...
std::vector<float> merge_kernel_order(const Partials& p) {
  const int pairs = p.D / 2;
  const float m = max_m(p);
  std::vector<float> acc(4 * p.D, 0.f), den(4, 0.f);
  for (int w = 0; w < 4; ++w)
    for (int lane = 0; lane < 32; ++lane)
      for (int e = 0; e < (pairs + 31) / 32; ++e) {
        const int pair = lane + 32 * e;
        if (pair >= pairs) break;
        for (int q = w; q < p.parts; q += 4) {
          const float wt = weight(p.m[q], p.l[q], m);
          acc[w * p.D + 2 * pair] = fma_rn(wt, p.o[q * p.D + 2 * pair], acc[w * p.D + 2 * pair]);
          acc[w * p.D + 2 * pair + 1] = fma_rn(wt, p.o[q * p.D + 2 * pair + 1], acc[w * p.D + 2 * pair + 1]);
        }
      }
  for (int w = 0; w < 4; ++w)
    for (int q = w; q < p.parts; q += 4) den[w] = add_rn(den[w], weight(p.m[q], p.l[q], m));
  std::vector<float> out(p.D);
  for (int d = 0; d < p.D; ++d) {
    float num = 0.f, total = 0.f;
    for (int w = 0; w < 4; ++w) {
      num = add_rn(num, acc[w * p.D + d]);
      total = add_rn(total, den[w]);
    }
    out[d] = div_rn(num, total);
  }
  return out;
}

// The last block's order: item = column pair, chunks of 16 partitions, partition p0 + j into chain j % 4.
std::vector<float> last_block_order(const Partials& p) {
  const int pairs = p.D / 2;
  const float m = max_m(p);
  std::vector<float> out(p.D);
  for (int pair = 0; pair < pairs; ++pair) {
    float ax[4] = {0, 0, 0, 0}, ay[4] = {0, 0, 0, 0}, den[4] = {0, 0, 0, 0};
    for (int p0 = 0; p0 < p.parts; p0 += 16)
      for (int j = 0; j < 16; ++j) {
        const int q = p0 + j, c = j % 4;
        if (q >= p.parts) continue;
        const float wt = weight(p.m[q], p.l[q], m);
        ax[c] = fma_rn(wt, p.o[q * p.D + 2 * pair], ax[c]);
        ay[c] = fma_rn(wt, p.o[q * p.D + 2 * pair + 1], ay[c]);
        den[c] = add_rn(den[c], wt);
      }
    float nx = 0.f, ny = 0.f, total = 0.f;
    for (int c = 0; c < 4; ++c) {
      nx = add_rn(nx, ax[c]);
      ny = add_rn(ny, ay[c]);
      total = add_rn(total, den[c]);
    }
    out[2 * pair] = div_rn(nx, total);
    out[2 * pair + 1] = div_rn(ny, total);
  }
  return out;
}

// A sequential merge (one chain): a different order, which must differ somewhere, so the check can fail.
std::vector<float> one_chain_order(const Partials& p) {
  const float m = max_m(p);
  std::vector<float> out(p.D);
  for (int d = 0; d < p.D; ++d) {
    float a = 0.f, den = 0.f;
    for (int q = 0; q < p.parts; ++q) {
      const float wt = weight(p.m[q], p.l[q], m);
      a = fma_rn(wt, p.o[q * p.D + d], a);
      den = add_rn(den, wt);
    }
    out[d] = div_rn(a, den);
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

} // namespace

int main() {
  // The switch: off unless the environment says exactly "1" (ctest runs without it).
  const char* env = std::getenv("PAGODA_DECODE_ONE_KERNEL");
  CHECK_EQ(decode_one_kernel_switch(), env != nullptr && std::strcmp(env, "1") == 0);

  // The counter scope.
  CHECK(decode_merge_counter_state().counters == nullptr);
  CHECK_EQ(decode_merge_counter_state().count, size_t(0));
  CHECK_EQ(decode_merge_counters_needed(64, 32), size_t(2048));
  int32_t a[8] = {}, b[4] = {};
  {
    const DecodeMergeCounters outer(a, 8);
    CHECK(decode_merge_counter_state().counters == a);
    CHECK_EQ(decode_merge_counter_state().count, size_t(8));
    {
      const DecodeMergeCounters inner(b, 4);
      CHECK(decode_merge_counter_state().counters == b);
      const DecodeMergeCounters off(nullptr, 100);
      CHECK(decode_merge_counter_state().counters == nullptr);
      CHECK_EQ(decode_merge_counter_state().count, size_t(0));
    }
    CHECK(decode_merge_counter_state().counters == a);
    CHECK_EQ(decode_merge_counter_state().count, size_t(8));
  }
  CHECK(decode_merge_counter_state().counters == nullptr);

  // The two merge orders agree bit for bit; a one-chain order does not (somewhere).
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> o(-1.f, 1.f), mm(-6.f, 6.f), ll(1.f, 64.f);
  int compared = 0, one_chain_differs = 0;
  for (int D : {32, 48, 64, 80, 128, 208, 256})
    for (int parts = 1; parts <= 70; parts += (parts < 12 ? 1 : 7)) {
      Partials p{parts, D, std::vector<float>(size_t(parts) * D), std::vector<float>(parts), std::vector<float>(parts)};
      for (float& x : p.o) x = o(rng);
      for (float& x : p.m) x = mm(rng);
      for (float& x : p.l) x = ll(rng);
      if (parts > 2) p.m[parts / 2] = p.m[0]; // a tie for the maximum
      const std::vector<float> want = merge_kernel_order(p);
      CHECK(same_bits(last_block_order(p), want));
      one_chain_differs += parts > 4 && !same_bits(one_chain_order(p), want);
      ++compared;
    }
  CHECK(compared > 100);
  CHECK(one_chain_differs > 0);
  std::printf("decode_one_kernel_decision_test: %d merge cases, one-chain order differs in %d\n", compared,
              one_chain_differs);
  return check_failures() != 0;
}
