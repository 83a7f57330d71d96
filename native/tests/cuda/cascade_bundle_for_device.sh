#!/bin/bash
# Fills the folder cascade_on_device.sh reads on the device (issue 20's cascade attention for decode
# batches sharing a prefix, PAGODA_CASCADE_ATTENTION=1): cascade_attention_test, cuda_kernel_bench,
# pagoda-bench and pagoda-check built here for sm_90a (stripped), the Llama-3-8B config, tiny-llama3
# (head_dim 64) / tiny-qwen3 (head_dim 128) with their goldens, the scripts and COMMIT; the binaries
# in bin.tar.gz (the device script unpacks them). Under 45 MB. Run from the
# repository root; it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/cascade_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/cascade)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/cascade}
SHARED=../shared
[ -f "$SHARED/configs/llama-3-8b.json" ] || { echo "cascade_bundle_for_device: run from the repository root"; exit 1; }
BINS="cascade_attention_test cuda_kernel_bench pagoda-bench pagoda-check"
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
cp native/tests/cuda/cascade_on_device.sh native/tests/cuda/device_run.sh native/tests/cuda/compare_tokens.py "$DEST/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
# The binaries travel gzipped (~15 MB instead of 39: a call carries 64 MiB with the working tree).
tar czf "$DEST/bin.tar.gz" -C "$DEST" bin && rm -rf "$DEST/bin"
du -sh "$DEST"
[ "$(du -sm "$DEST" | cut -f1)" -lt 45 ] || { echo "cascade_bundle_for_device: bundle over 45 MB"; exit 1; }
echo "carry $DEST; on the device: OUT=\$OUT bash $DEST/cascade_on_device.sh"
