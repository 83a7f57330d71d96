#!/bin/bash
# Fills the folder quant_on_device.sh builds and reads on the device: this tree's native/
# sources (no build folders), bench/configs/, and from ../shared the wave2 tiny-llama quantized
# checkpoints with their goldens, the ShareGPT-like workload and the Llama-3-8B config. About
# 10 MB. Run from the repository root.
# Usage: native/tests/cuda/quant_bundle_for_device.sh [dest (.dev-carry/cudaq-src)]
set -eu
DEST=${1:-.dev-carry/cudaq-src}
SHARED=../shared
[ -d "$SHARED/models/wave2" ] || { echo "quant_bundle_for_device: run from the repository root"; exit 1; }
rm -rf "$DEST"
mkdir -p "$DEST/native" "$DEST/bench" "$DEST/shared/models" "$DEST/shared/golden"
tar cf - --exclude='build*' -C native . | tar xf - -C "$DEST/native"
cp -r bench/configs "$DEST/bench/"
for m in "$SHARED"/models/wave2/tiny-llama-*; do cp -r "$m" "$DEST/shared/models/"; done
cp "$SHARED"/fixtures/wave2/golden/tiny-llama-*.golden.json "$DEST/shared/golden/"
cp "$SHARED/workloads/sharegpt-like.json" "$SHARED/configs/llama-3-8b.json" "$DEST/shared/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
