#!/bin/bash
# Fills the folder quant2_on_device.sh reads on the device (issue 15, W8A8 at every m without a
# new decode kernel): the tools and tests built here for sm_90a (stripped), the device script,
# bench/configs/, and from ../shared the wave2 tiny-llama quantized checkpoints with their goldens
# and the Llama-3-8B config. About 15 MB. Run from the repository root after building
# native/build-cuda (targets quant_gemm_test elementwise_kernels_test golden_test pagoda-bench
# pagoda-check quant_kernel_bench); the device
# runs over /work/main, so DEST is under it (git-ignored .dev-carry, never committed).
# Usage: native/tests/cuda/quant2_bundle_for_device.sh [build (native/build-cuda)] [dest (/work/main/.dev-carry/quant2)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin quant2_bundle_for_device /work/main/.dev-carry/quant2 "$@"
bundle_need "$SHARED/models/wave2"
bundle_fresh shared/models/wave2 shared/fixtures/wave2/golden
bundle_bins pagoda-bench pagoda-check golden_test quant_gemm_test elementwise_kernels_test quant_kernel_bench
cp native/tests/cuda/quant2_on_device.sh "$DEST/"
cp -r bench/configs "$DEST/configs"
for m in "$SHARED"/models/wave2/tiny-llama-*; do cp -r "$m" "$DEST/shared/models/wave2/"; done
cp "$SHARED"/fixtures/wave2/golden/tiny-llama-*.golden.json "$DEST/shared/fixtures/wave2/golden/"
cp "$SHARED/configs/llama-3-8b.json" "$DEST/shared/"
bundle_end
