#!/bin/bash
# Fills the folder quant_throughput_on_device.sh reads on the device (issue 15's serving figures):
# pagoda-bench built here for sm_90a (stripped), the Llama-3-8B config and its FP8 variants, the
# ShareGPT-like workload, the script and COMMIT. About 10 MB. Run from the repository root after
# building native/build-cuda (target pagoda-bench); DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/quant_throughput_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/throughput)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin quant_throughput_bundle_for_device .dev-carry/throughput "$@"
bundle_need "$SHARED/workloads/sharegpt-like.json"
bundle_fresh configs
bundle_bins pagoda-bench
cp "$SHARED/configs/llama-3-8b.json" bench/configs/llama-3-8b-fp8-dynamic.json "$DEST/configs/"
cp "$SHARED/workloads/sharegpt-like.json" native/tests/cuda/quant_throughput_on_device.sh "$DEST/"
bundle_end "bash $DEST/quant_throughput_on_device.sh \$OUT/throughput"
