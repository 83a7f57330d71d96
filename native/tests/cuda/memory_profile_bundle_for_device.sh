#!/bin/bash
# Builds pagoda-bench here (nvcc, sm_90a) and fills the folder memory_profile_on_device.sh reads:
# bin/pagoda-bench (stripped), the three model shapes' config.json files, the script and COMMIT.
# Run from the repository root.
# Usage: native/tests/cuda/memory_profile_bundle_for_device.sh [build dir (native/build-cuda)] [out (.dev-carry/planner)]
set -eu
BUILD=${1:-native/build-cuda}
OUT=${2:-.dev-carry/planner}
cmake -S native -B "$BUILD" -G Ninja >/dev/null
cmake --build "$BUILD" -j2 --target pagoda-bench
mkdir -p "$OUT/bin" "$OUT/configs"
cp "$BUILD/pagoda-bench" "$OUT/bin/"
strip --strip-unneeded "$OUT/bin/pagoda-bench"
cp ../shared/configs/llama-3-8b.json ../shared/configs/qwen2.5-7b.json bench/configs/qwen2.5-32b.json "$OUT/configs/"
cp native/tests/cuda/memory_profile_on_device.sh "$OUT/"
git describe --always --dirty --abbrev=7 > "$OUT/COMMIT"
du -sh "$OUT"
echo "carry $OUT; on the device: bash $OUT/memory_profile_on_device.sh \$OUT \$(cat $OUT/COMMIT)"
