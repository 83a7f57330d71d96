#!/bin/bash
# Fills the folder pdl_on_device.sh reads on the device (wt/pdl: no PDL kernel reads through ld.global.nc after
# griddepcontrol.wait): every CUDA kernel test (tests/cuda/*_test.cu) built here for sm_90a (stripped), the
# tiny GPTQ checkpoint quant_gemm_test's PDL chain reads, tiny-llama3 (sample_rows_test's engine checks), the scripts and COMMIT. Run from the repository root;
# it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/pdl_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/pdl)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin pdl_bundle_for_device .dev-carry/pdl "$@"
bundle_need "$SHARED/models/wave2"
mapfile -t BINS < <(ls native/tests/cuda/*_test.cu | xargs -n1 basename | sed 's/\.cu$//')
bundle_build "${BINS[@]}"
bundle_fresh shared/models/wave2 shared/models
bundle_bins "${BINS[@]}"
cp -r "$SHARED/models/wave2/tiny-llama-gptq-int4" "$DEST/shared/models/wave2/"
cp -r "$SHARED/models/tiny-llama3" "$DEST/shared/models/" # sample_rows_test's engine checks
cp native/tests/cuda/pdl_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end "OUT=\$OUT bash $DEST/pdl_on_device.sh"
echo "then the figures (figures_bundle_for_device.sh / figures_on_device.sh, PENDING.md) to see they did not move"
