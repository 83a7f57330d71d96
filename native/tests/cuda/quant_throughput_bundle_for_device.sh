#!/bin/bash
# Fills the folder quant_throughput_on_device.sh reads on the device (issue 15's serving figures):
# pagoda-bench built here for sm_90a (stripped), the Llama-3-8B config and its FP8 variants, the
# ShareGPT-like workload, the script and COMMIT. About 10 MB. Run from the repository root after
# building native/build-cuda (target pagoda-bench); DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/quant_throughput_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/throughput)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/throughput}
[ -f ../shared/workloads/sharegpt-like.json ] || { echo "quant_throughput_bundle_for_device: run from the repository root"; exit 1; }
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/configs"
cp "$BUILD/pagoda-bench" "$DEST/bin/"
strip --strip-unneeded "$DEST/bin/pagoda-bench"
cp ../shared/configs/llama-3-8b.json bench/configs/llama-3-8b-fp8-dynamic.json "$DEST/configs/"
cp ../shared/workloads/sharegpt-like.json native/tests/cuda/quant_throughput_on_device.sh "$DEST/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
echo "carry $DEST; on the device: bash $DEST/quant_throughput_on_device.sh \$OUT/throughput"
