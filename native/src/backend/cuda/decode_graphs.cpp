// CUDA graphs of decode-only steps: captured at load for every padded batch size (so no step
// of a run pays for a capture), replayed with the step's inputs in fixed buffers.
#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "error.h"

namespace pagoda::cuda {

bool CudaBackend::graph_eligible(const ForwardBatch& b) const {
  return graphs_enabled_ && !b.all_logits && rope_.type != "dynamic" && b.num_tokens() == b.num_seqs() &&
         b.num_seqs() <= graph_max_seqs_ && b.max_blocks_per_seq <= inputs_.fixed_max_blocks();
}

void CudaBackend::capture_decode_graphs() {
  if (!graphs_enabled_ || rope_.type == "dynamic") return;
  // One real sequence (token 0 at position 0, written to slot 0: block 0 is rewritten by
  // whichever sequence is given it before anything reads it), padded to each size.
  ForwardBatch b;
  b.token_ids = {0};
  b.positions = {0};
  b.slot_mapping = {0};
  b.query_start = {0, 1};
  b.context_lens = {1};
  b.max_blocks_per_seq = 1;
  b.block_tables = {0};
  const int largest = graph_batch_size(graph_max_seqs_);
  for (int size = 1; size <= largest; size = graph_batch_size(size + 1)) graph_step(b, size);
  stream_.synchronize();
}

// A decode-only step: inputs into the fixed buffers, padded to a captured batch size (by
// default the smallest that holds the batch), then one graph launch for the whole model and
// lm_head (logits_ rows 0..num_seqs are the batch's).
void CudaBackend::graph_step(const ForwardBatch& b, int padded) {
  cudaStream_t st = stream_.get();
  if (padded <= 0) padded = graph_batch_size(b.num_seqs());
  ensure_activations(padded, padded);
  StepInputs in = inputs_.upload_padded_decode(b, padded, st, placeholder_ids_for(b));
  in.decode_plan = graph_decode_plan(padded);
  ensure_decode_workspace(in);
  DecodeGraph& graph = graphs_[padded];
  if (!graph.exec || graph.generation != buffers_generation_) capture(in, graph);
  graph.exec.launch(st);
  ++graph_replays_;
}

// Sized for max_model_len, the plan leaves a batch unsplit once its rows give half a block an SM (from 9 rows at
// 4096), so a graph of 9-32 rows walks each context on one block a KV head: session 18's batch-16 timeline ran 16 x 8
// blocks over whole contexts. Up to kSmallBatchRows rows the partitions are capped at kSmallBatchPartition tokens.
// ShareGPT 500 in one call (session 21, h200-sharegpt-partition-s21.txt): the 9-16-row steps 72.4% -> 81.9% of their
// roofline with a 256-token cap, 17-32 78.9 -> 79.7%; capped at every size the 128- and 256-row steps lost more
// (74.9 -> 71.7%, 61.4 -> 55.9%: the merge and the extra blocks cost more than an unsplit batch that size idles).
// PAGODA_GRAPH_DECODE_PARTITION=T (a multiple of 32) caps every graph at T tokens instead; 0 caps none.
DecodePlan CudaBackend::graph_decode_plan(int padded) const {
  constexpr int kSmallBatchRows = 32, kSmallBatchPartition = 256;
  static const int forced = [] {
    const char* v = std::getenv("PAGODA_GRAPH_DECODE_PARTITION");
    if (v == nullptr || *v == 0) return -1;
    const int t = std::atoi(v);
    if (t != 0 && (t < 32 || t % 32 != 0))
      throw Error("PAGODA_GRAPH_DECODE_PARTITION: " + std::string(v) + " is not 0 or a positive multiple of 32");
    return t;
  }();
  DecodePlanOptions options = decode_options_;
  options.partition_cap = forced >= 0 ? forced : (padded <= kSmallBatchRows ? kSmallBatchPartition : 0);
  return plan_paged_attention_decode(padded, config_.num_key_value_heads, config_.num_attention_heads, max_model_len_,
                                     num_sms_, options);
}

// Runs the step once eagerly (GEMM kernel choices and kernel attributes are settled outside
// the capture; the KV writes are the same values the graph then writes again), then captures.
void CudaBackend::capture(const StepInputs& in, DecodeGraph& graph) {
  cudaStream_t st = stream_.get();
  ops_.pause();
  run_model(in);
  lm_head_rows(rows_.data(), in.num_logit_rows);
  stream_.synchronize();
  graph.exec = capture_graph(st, [&] {
    run_model(in);
    lm_head_rows(rows_.data(), in.num_logit_rows);
  });
  graph.generation = buffers_generation_;
  note_memory();
}

} // namespace pagoda::cuda
