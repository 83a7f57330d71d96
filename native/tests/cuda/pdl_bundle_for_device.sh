#!/bin/bash
# Fills the folder pdl_on_device.sh reads on the device (wt/pdl: no PDL kernel reads through ld.global.nc after
# griddepcontrol.wait): every CUDA kernel test (tests/cuda/*_test.cu) built here for sm_90a (stripped), the
# tiny GPTQ checkpoint quant_gemm_test's PDL chain reads, the scripts and COMMIT. Run from the repository root;
# it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/pdl_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/pdl)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/pdl}
SHARED=../shared
[ -d "$SHARED/models/wave2" ] || { echo "pdl_bundle_for_device: run from the repository root"; exit 1; }
BINS=$(ls native/tests/cuda/*_test.cu | xargs -n1 basename | sed 's/\.cu$//' | tr '\n' ' ')
cmake --build "$BUILD" -j2 --target $BINS
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/shared/models/wave2"
for b in $BINS; do
  cp "$BUILD/$b" "$DEST/bin/" && strip --strip-unneeded "$DEST/bin/$b"
done
cp -r "$SHARED/models/wave2/tiny-llama-gptq-int4" "$DEST/shared/models/wave2/"
cp native/tests/cuda/pdl_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
echo "carry $DEST; on the device:  OUT=\$OUT bash $DEST/pdl_on_device.sh"
echo "then the figures (figures_bundle_for_device.sh / figures_on_device.sh, PENDING.md) to see they did not move"
