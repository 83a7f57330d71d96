#!/bin/bash
# Fills the folder int4silu_on_device.sh reads on the device: the int4 fused SiLU (int4 gate_up + SiLU·mul in
# quant_gemm_lean's kernel, rows interleaved by 8 at load) checked and measured in one call.
# quant_gemm_silu_test, pagoda-bench and pagoda-check built here for sm_90a (stripped, gzipped), the Llama-3-8B
# GPTQ / AWQ configs, the wave2 int4 checkpoints with their goldens, the scripts and COMMIT. Run from the repository
# root; it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/int4silu_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/int4silu)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin int4silu_bundle_for_device .dev-carry/int4silu "$@"
bundle_need "$SHARED/models/wave2"
BINS=(quant_gemm_silu_test pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models/wave2 shared/fixtures/wave2/golden shared/fixtures/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
cp bench/configs/llama-3-8b-gptq-int4.json bench/configs/llama-3-8b-awq-int4.json "$DEST/configs/"
bundle_checkpoints gptq-int4 gptq-int4-actorder awq-int4 --
cp native/tests/cuda/int4silu_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 40 "OUT=\$OUT bash $DEST/int4silu_on_device.sh"
