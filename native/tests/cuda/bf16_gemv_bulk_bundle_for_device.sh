#!/bin/bash
# Fills the folder bf16_gemv_bulk_on_device.sh reads on the device (issue 20's bf16 bulk-copy decode GEMV,
# PAGODA_BF16_GEMV_BULK=1): bf16_gemv_bulk_test, quant_kernel_bench, pagoda-bench and pagoda-check built
# here for sm_90a (stripped), the Llama-3-8B config, tiny-llama3 / tiny-qwen3 with their goldens, the
# script and COMMIT. About 25 MB. Run from the repository root; it builds the targets in BUILD first.
# DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/bf16_gemv_bulk_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/bf16bulk)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/bf16bulk}
SHARED=../shared
[ -f "$SHARED/configs/llama-3-8b.json" ] || { echo "bf16_gemv_bulk_bundle_for_device: run from the repository root"; exit 1; }
BINS="bf16_gemv_bulk_test quant_kernel_bench pagoda-bench pagoda-check"
cmake --build "$BUILD" -j2 --target $BINS
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/configs" "$DEST/shared/models" "$DEST/shared/fixtures/golden"
for b in $BINS; do
  cp "$BUILD/$b" "$DEST/bin/" && strip --strip-unneeded "$DEST/bin/$b"
done
cp "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
for m in tiny-llama3 tiny-qwen3; do
  cp -r "$SHARED/models/$m" "$DEST/shared/models/"
  cp "$SHARED/fixtures/golden/$m.golden.json" "$DEST/shared/fixtures/golden/"
done
cp native/tests/cuda/bf16_gemv_bulk_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
echo "carry $DEST; on the device: OUT=\$OUT bash $DEST/bf16_gemv_bulk_on_device.sh"
