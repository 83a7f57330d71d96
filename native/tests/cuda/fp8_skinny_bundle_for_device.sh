#!/bin/bash
# Fills the folder fp8_skinny_on_device.sh reads on the device (issue 15's FP8 decode GEMM,
# PAGODA_FP8_SKINNY=1): fp8_skinny_test, quant_kernel_bench and pagoda-bench built here for sm_90a
# (stripped), the Llama-3-8B bf16 and FP8-dynamic configs, the ShareGPT-like workload, the script and
# COMMIT. About 15 MB. Run from the repository root after building native/build-cuda (targets
# fp8_skinny_test quant_kernel_bench pagoda-bench); DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/fp8_skinny_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/fp8skinny)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/fp8skinny}
[ -f ../shared/workloads/sharegpt-like.json ] || { echo "fp8_skinny_bundle_for_device: run from the repository root"; exit 1; }
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/configs"
for b in fp8_skinny_test quant_kernel_bench pagoda-bench; do
  cp "$BUILD/$b" "$DEST/bin/"
  strip --strip-unneeded "$DEST/bin/$b"
done
cp ../shared/configs/llama-3-8b.json bench/configs/llama-3-8b-fp8-dynamic.json "$DEST/configs/"
cp ../shared/workloads/sharegpt-like.json native/tests/cuda/fp8_skinny_on_device.sh "$DEST/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
echo "carry $DEST; on the device: bash $DEST/fp8_skinny_on_device.sh"
