#!/bin/bash
# Fills the folder decode_switches_on_device.sh reads on the device: session 10's batch-1 switch that is still
# built (PAGODA_FUSED_SILU, bf16) checked and measured in one call.
# Its kernel test and elementwise_kernels_test, pagoda-bench and pagoda-check built here for sm_90a (stripped,
# gzipped), the Llama-3-8B config, the tiny bf16 checkpoints with their goldens, the scripts and COMMIT. Run from
# the repository root; it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/decode_switches_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/switches)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin decode_switches_bundle_for_device .dev-carry/switches "$@"
bundle_need "$SHARED/configs/llama-3-8b.json"
BINS=(elementwise_kernels_test skinny_gemm_test pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models shared/fixtures/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
cp "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
bundle_checkpoints -- tiny-llama3 tiny-qwen3
cp native/tests/cuda/decode_switches_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 60 "OUT=\$OUT bash $DEST/decode_switches_on_device.sh"
