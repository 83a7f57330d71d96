#!/bin/bash
# Builds pagoda-bench here (nvcc, sm_90a) and fills the folder memory_profile_on_device.sh reads:
# bin/pagoda-bench (stripped), the three model shapes' config.json files, the script and COMMIT.
# Run from the repository root.
# Usage: native/tests/cuda/memory_profile_bundle_for_device.sh [build dir (native/build-cuda)] [out (.dev-carry/planner)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin memory_profile_bundle_for_device .dev-carry/planner "$@"
bundle_configure
bundle_build pagoda-bench
# Not a fresh DEST: the files below are overwritten.
mkdir -p "$DEST/configs"
bundle_bins pagoda-bench
cp "$SHARED/configs/llama-3-8b.json" "$SHARED/configs/qwen2.5-7b.json" bench/configs/qwen2.5-32b.json "$DEST/configs/"
cp native/tests/cuda/memory_profile_on_device.sh "$DEST/"
bundle_end "bash $DEST/memory_profile_on_device.sh \$OUT \$(cat $DEST/COMMIT)"
