#!/bin/bash
# Fills the folder decode_switches_on_device.sh reads on the device: session 10's default-off batch-1 switches
# (PAGODA_DECODE_FUSED_ROPE, PAGODA_FUSED_SILU) checked and measured in one call.
# Their kernel tests, quant_kernel_bench, pagoda-bench and pagoda-check built here for sm_90a (stripped, gzipped),
# the Llama-3-8B configs, the tiny bf16 and wave2 checkpoints with their goldens, the scripts and COMMIT. Run from
# the repository root; it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/decode_switches_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/switches)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin decode_switches_bundle_for_device .dev-carry/switches "$@"
bundle_need "$SHARED/models/wave2"
BINS=(elementwise_kernels_test fused_rope_decode_test skinny_gemm_test pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models/wave2 shared/fixtures/wave2/golden shared/fixtures/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
cp bench/configs/llama-3-8b-gptq-int4.json bench/configs/llama-3-8b-awq-int4.json "$SHARED/configs/llama-3-8b.json" \
  "$DEST/configs/"
cp "$SHARED/workloads/sharegpt-like.json" "$DEST/"
bundle_checkpoints gptq-int4 gptq-int4-actorder awq-int4 -- tiny-llama3 tiny-qwen3
cp native/tests/cuda/decode_switches_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 60 "OUT=\$OUT bash $DEST/decode_switches_on_device.sh"
