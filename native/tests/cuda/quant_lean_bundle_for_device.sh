#!/bin/bash
# Fills the folder quant_lean_on_device.sh reads on the device (issue 15's lean decode kernel,
# PAGODA_QUANT_GEMM_LEAN=1): quant_gemm_test, quant_kernel_bench, pagoda-bench and pagoda-check
# built here for sm_90a (stripped), the Llama-3-8B GPTQ / AWQ / FP8-dynamic configs, the wave2 tiny
# quantized models with their goldens, the script and COMMIT. About 30 MB. Run from the repository root;
# it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/quant_lean_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/lean)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin quant_lean_bundle_for_device .dev-carry/lean "$@"
bundle_need "$SHARED/models/wave2"
BINS=(quant_gemm_test quant_kernel_bench pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models/wave2 shared/fixtures/wave2/golden
bundle_bins "${BINS[@]}"
cp bench/configs/llama-3-8b-gptq-int4.json bench/configs/llama-3-8b-awq-int4.json bench/configs/llama-3-8b-fp8-dynamic.json \
  "$DEST/configs/"
for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block; do
  cp -r "$SHARED/models/wave2/tiny-llama-$g" "$DEST/shared/models/wave2/"
  cp "$SHARED/fixtures/wave2/golden/tiny-llama-$g.golden.json" "$DEST/shared/fixtures/wave2/golden/"
done
cp "$SHARED"/fixtures/wave2/golden/tiny-llama-fp8-*.w8a8.golden.json "$DEST/shared/fixtures/wave2/golden/"
cp native/tests/cuda/quant_lean_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end "OUT=\$OUT bash $DEST/quant_lean_on_device.sh"
