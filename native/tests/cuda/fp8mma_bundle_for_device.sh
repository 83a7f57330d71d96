#!/bin/bash
# Fills the folder fp8mma_on_device.sh reads on the device (fp8_mma_gemm, W8A8 fp8 decode on e4m3 tensor cores,
# PAGODA_FP8_MMA=1): fp8_mma_gemm_test, quant_kernel_bench, pagoda-bench and pagoda-check built here for sm_90a
# (stripped, gzipped), the Llama-3-8B FP8-dynamic and FP8-block configs, the wave2 tiny fp8 checkpoints with their
# goldens (weight-only and .w8a8), the scripts and COMMIT. Run from the repository root; it builds the targets in
# BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/fp8mma_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/fp8mma)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin fp8mma_bundle_for_device .dev-carry/fp8mma "$@"
bundle_need "$SHARED/models/wave2"
BINS=(fp8_mma_gemm_test quant_kernel_bench pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models/wave2 shared/fixtures/wave2/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
cp bench/configs/llama-3-8b-fp8-dynamic.json bench/configs/llama-3-8b-fp8-block.json "$DEST/configs/"
for g in fp8-dynamic fp8-block; do
  cp -r "$SHARED/models/wave2/tiny-llama-$g" "$DEST/shared/models/wave2/"
  cp "$SHARED/fixtures/wave2/golden/tiny-llama-$g.golden.json" "$DEST/shared/fixtures/wave2/golden/"
done
cp "$SHARED"/fixtures/wave2/golden/tiny-llama-fp8-*.w8a8.golden.json "$DEST/shared/fixtures/wave2/golden/"
cp native/tests/cuda/fp8mma_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 60 "OUT=\$OUT bash $DEST/fp8mma_on_device.sh"
