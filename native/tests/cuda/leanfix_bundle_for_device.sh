#!/bin/bash
# Fills the folder leanfix_on_device.sh reads on the device (the lean kernel's PDL fix, wt/leanfix):
# quant_gemm_test, pagoda-check and pagoda-bench built here for sm_90a (stripped), the Llama-3-8B GPTQ config,
# the wave2 tiny quantized models with their goldens, the scripts and COMMIT. Run from the repository root;
# it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/leanfix_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/leanfix)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/leanfix}
SHARED=../shared
[ -d "$SHARED/models/wave2" ] || { echo "leanfix_bundle_for_device: run from the repository root"; exit 1; }
BINS="quant_gemm_test pagoda-check pagoda-bench"
cmake --build "$BUILD" -j2 --target $BINS
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/configs" "$DEST/shared/models/wave2" "$DEST/shared/fixtures/wave2/golden"
for b in $BINS; do
  cp "$BUILD/$b" "$DEST/bin/" && strip --strip-unneeded "$DEST/bin/$b"
done
cp bench/configs/llama-3-8b-gptq-int4.json "$DEST/configs/"
for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block; do
  cp -r "$SHARED/models/wave2/tiny-llama-$g" "$DEST/shared/models/wave2/"
  cp "$SHARED/fixtures/wave2/golden/tiny-llama-$g.golden.json" "$DEST/shared/fixtures/wave2/golden/"
done
cp "$SHARED"/fixtures/wave2/golden/tiny-llama-fp8-*.w8a8.golden.json "$DEST/shared/fixtures/wave2/golden/"
cp native/tests/cuda/leanfix_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
echo "carry $DEST (and the session-9 bundle .dev-carry/lean as OLD, optional); on the device:"
echo "  OUT=\$OUT OLD=.dev-carry/lean bash $DEST/leanfix_on_device.sh"
