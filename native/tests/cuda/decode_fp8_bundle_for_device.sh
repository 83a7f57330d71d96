#!/bin/bash
# Fills the folder decode_fp8_on_device.sh reads: the e4m3 decode attention (f16 mmas, K's codes straight into
# the fragments) checked and timed beside the build before it. Binaries built here for sm_90a (paged_attention_test,
# kv_cache_dtype_test, cuda_kernel_bench, pagoda-bench) and the earlier commit's cuda_kernel_bench and pagoda-bench
# (BEFORE_KB, BEFORE_BENCH: built in a worktree at that commit), the tiny checkpoints kv_cache_dtype_test reads,
# the Llama-3-8B configs (bf16, FP8-dynamic) and the ShareGPT-like workload. Run from the repository root.
# Usage: BEFORE_KB=path BEFORE_BENCH=path native/tests/cuda/decode_fp8_bundle_for_device.sh [build] [dest (.dev-carry/decode-fp8)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin decode_fp8_bundle_for_device .dev-carry/decode-fp8 "$@"
bundle_need "$SHARED/models"
BINS=(paged_attention_test kv_cache_dtype_test cuda_kernel_bench pagoda-bench)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models shared/fixtures/golden
bundle_bins "${BINS[@]}"
for pair in BEFORE_KB:cuda_kernel_bench BEFORE_BENCH:pagoda-bench; do
  var=${pair%%:*} name=${pair#*:}
  [ -x "${!var:-}" ] || bundle_die "$var must name an executable (the earlier commit's $name)"
  cp "${!var}" "$DEST/bin/$name-before" && strip --strip-unneeded "$DEST/bin/$name-before"
done
bundle_gzip_bins
cp bench/configs/llama-3-8b-fp8-dynamic.json "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
cp "$SHARED/workloads/sharegpt-like.json" "$DEST/"
for m in tiny-llama3 tiny-qwen3 stories260k-hd64; do # head_dim 128 (Llama, Qwen3) and 64
  cp -r "$SHARED/models/$m" "$DEST/shared/models/"
  [ -f "$SHARED/fixtures/golden/$m.golden.json" ] && cp "$SHARED/fixtures/golden/$m.golden.json" "$DEST/shared/fixtures/golden/"
done
cp "$SHARED/fixtures/golden/stories260k.golden.json" "$DEST/shared/fixtures/golden/" # stories260k-hd64 reads it
cp native/tests/cuda/decode_fp8_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end "OUT=\$OUT bash $DEST/decode_fp8_on_device.sh"
