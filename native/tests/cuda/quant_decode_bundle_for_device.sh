#!/bin/bash
# Fills the folder quant_decode_on_device.sh carries: the wave2 goldens under golden.cpp's tolerances
# (through quant2_on_device.sh: bin/, shared/, configs/) and an Nsight Compute profile of the m-1 decode
# GEMMs. About 40 MB. Run from the repository root; it builds its targets in native/build-cuda.
# Usage: native/tests/cuda/quant_decode_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/qdec)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin quant_decode_bundle_for_device .dev-carry/qdec "$@"
bundle_need "$SHARED/models/wave2"
BINS=(pagoda-check golden_test quant_kernel_bench)
bundle_build "${BINS[@]}"
bundle_fresh shared/models/wave2 shared/fixtures/wave2/golden
bundle_bins "${BINS[@]}"
cp native/tests/cuda/quant_decode_on_device.sh native/tests/cuda/quant2_on_device.sh "$DEST/"
cp -r bench/configs "$DEST/configs"
cp "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
cp "$SHARED/configs/llama-3-8b.json" "$DEST/shared/"
for m in "$SHARED"/models/wave2/tiny-llama-*; do cp -r "$m" "$DEST/shared/models/wave2/"; done
cp "$SHARED"/fixtures/wave2/golden/tiny-llama-*.golden.json "$DEST/shared/fixtures/wave2/golden/"
bundle_end "bash $DEST/quant_decode_on_device.sh"
