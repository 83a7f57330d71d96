#!/bin/bash
# Fills the folder prefill_on_device.sh reads on the device: the prefill attention kernel's A/B in one call.
# Binaries built here for sm_90a (paged_attention_wgmma_test, cuda_kernel_bench, pagoda-bench, pagoda-check), an earlier
# cuda_kernel_bench (BEFORE_KB, optional: the same-call baseline), the Llama-3.1-8B config, the scripts, COMMIT.
# Usage: [BEFORE_KB=path] native/tests/cuda/prefill_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/prefill)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin prefill_bundle_for_device .dev-carry/prefill "$@"
bundle_build paged_attention_wgmma_test cuda_kernel_bench pagoda-bench pagoda-check
bundle_fresh configs
bundle_bins paged_attention_wgmma_test cuda_kernel_bench pagoda-bench pagoda-check
if [ -n "${BEFORE_KB:-}" ]; then
  [ -x "$BEFORE_KB" ] || bundle_die "BEFORE_KB $BEFORE_KB is not an executable"
  cp "$BEFORE_KB" "$DEST/bin/cuda_kernel_bench-before" && strip --strip-unneeded "$DEST/bin/cuda_kernel_bench-before"
fi
bundle_gzip_bins
cp bench/configs/llama-3.1-8b.json "$DEST/configs/"
cp native/tests/cuda/prefill_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end "OUT=\$OUT bash $DEST/prefill_on_device.sh"
