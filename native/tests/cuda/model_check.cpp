// cuda_model_check: runs token sequences through a backend the way the engine does (chunked
// prefill, then one token per step, all sequences in one batch per step) with teacher forcing,
// and writes the logits at sampled positions for check_model_against_torch.py to compare.
//
// usage: cuda_model_check <model> <requests.bin> <logits.bin> [--device cuda|cpu] [--load-format dummy]
//   (with --load-format dummy, <model> is a config.json and the weights are random)
// requests.bin (int32 little-endian): num_seqs, chunk, sample_every, then per sequence:
//   total_len, prefill_len, total_len token ids.
// logits.bin: per record int32 seq, int32 position, then vocab float32 logits.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/engine_config.h"
#include "error.h"
#include "model/model_config.h"

namespace {

struct Request {
  int32_t prefill_len = 0;
  std::vector<int32_t> tokens;
  int32_t done = 0; // tokens already in the KV cache
};

std::vector<int32_t> read_ints(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw pagoda::Error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<int32_t> ints(bytes.size() / 4);
  std::copy(bytes.begin(), bytes.begin() + ints.size() * 4, reinterpret_cast<char*>(ints.data()));
  return ints;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: cuda_model_check <model> <requests.bin> <logits.bin> [--device cuda|cpu] "
                         "[--load-format dummy]\n");
    return 2;
  }
  try {
    pagoda::EngineConfig config;
    config.model = argv[1];
    config.device = "cuda";
    for (int i = 4; i + 1 < argc; i += 2) {
      const std::string flag = argv[i];
      if (flag == "--device") config.device = argv[i + 1];
      else if (flag == "--load-format") config.load_format = argv[i + 1];
      else throw pagoda::Error("unknown option " + flag);
    }
    const std::vector<int32_t> in = read_ints(argv[2]);
    size_t p = 0;
    const int32_t num_seqs = in.at(p++), chunk = in.at(p++), sample_every = in.at(p++);
    std::vector<Request> reqs(num_seqs);
    int32_t longest = 0;
    for (Request& r : reqs) {
      const int32_t total = in.at(p++);
      r.prefill_len = in.at(p++);
      r.tokens.assign(in.begin() + p, in.begin() + p + total);
      p += total;
      longest = std::max(longest, total);
    }
    const int32_t bs = 16, max_blocks = (longest + bs - 1) / bs;
    config.max_model_len = longest;
    auto backend = pagoda::create_backend(config);
    const int32_t vocab = backend->model_config().vocab_size;
    backend->profile(std::max(chunk * num_seqs, 256), num_seqs);
    backend->allocate_kv_cache(max_blocks * num_seqs, bs);

    std::ofstream out(argv[3], std::ios::binary);
    int steps = 0, records = 0;
    double forward_ms = 0, decode_ms = 0;
    int decode_steps = 0;
    for (;;) {
      pagoda::ForwardBatch b;
      b.max_blocks_per_seq = max_blocks;
      b.query_start.push_back(0);
      std::vector<int32_t> seq_of_row;
      bool decode_only = true;
      for (int32_t s = 0; s < num_seqs; ++s) {
        Request& r = reqs[s];
        if (r.done == static_cast<int32_t>(r.tokens.size())) continue;
        const int32_t n = r.done < r.prefill_len ? std::min(chunk, r.prefill_len - r.done) : 1;
        decode_only = decode_only && r.done >= r.prefill_len;
        for (int32_t i = 0; i < n; ++i) {
          const int32_t pos = r.done + i;
          b.token_ids.push_back(r.tokens[pos]);
          b.positions.push_back(pos);
          b.slot_mapping.push_back((s * max_blocks + pos / bs) * bs + pos % bs);
        }
        r.done += n;
        b.query_start.push_back(b.query_start.back() + n);
        b.context_lens.push_back(r.done);
        for (int32_t k = 0; k < max_blocks; ++k) b.block_tables.push_back(s * max_blocks + k);
        seq_of_row.push_back(s);
      }
      if (seq_of_row.empty()) break;
      std::vector<float> logits;
      const auto t0 = std::chrono::steady_clock::now();
      backend->forward(b, logits);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      forward_ms += ms;
      ++steps;
      if (decode_only) {
        decode_ms += ms;
        ++decode_steps;
      }
      for (size_t row = 0; row < seq_of_row.size(); ++row) {
        const int32_t s = seq_of_row[row];
        const int32_t pos = reqs[s].done - 1; // the last token this step fed
        const bool end_of_chunk = pos < reqs[s].prefill_len;
        if (!(end_of_chunk || pos % sample_every == 0 || pos + 1 == static_cast<int32_t>(reqs[s].tokens.size()))) continue;
        out.write(reinterpret_cast<const char*>(&s), 4);
        out.write(reinterpret_cast<const char*>(&pos), 4);
        out.write(reinterpret_cast<const char*>(logits.data() + row * vocab), size_t(vocab) * 4);
        ++records;
      }
    }
    std::printf("cuda_model_check: backend %s, %d steps, %d logit rows written, %.1f ms in forward; "
                "%d decode-only steps at %.3f ms/step (batch %d, host clock around forward)\n",
                backend->name().c_str(), steps, records, forward_ms, decode_steps,
                decode_steps ? decode_ms / decode_steps : 0.0, num_seqs);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_model_check: %s\n", e.what());
    return 1;
  }
}
