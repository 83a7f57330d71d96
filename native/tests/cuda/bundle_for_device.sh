#!/bin/bash
# Builds the CUDA tools and tests here (nvcc, sm_90a) and fills the folder the device scripts
# read (.dev-carry/cuda: bin/ and shared/), so one device call, carrying that folder, runs
# run_on_device.sh, bench_on_device.sh and bench_random_on_device.sh. About 50 MB of the
# 64 MiB a call may carry. Run from the repository root.
# Usage: native/tests/cuda/bundle_for_device.sh [build dir (native/build-cuda)] [out (.dev-carry/cuda)]
set -eu
BUILD=${1:-native/build-cuda}
OUT=${2:-.dev-carry/cuda}
SHARED=../shared
[ -d "$SHARED/models" ] || { echo "bundle_for_device: run from the repository root ($SHARED/models not found)"; exit 1; }
cmake -S native -B "$BUILD" -G Ninja >/dev/null
cmake --build "$BUILD" -j2
[ -x "$BUILD/sample_rows_test" ] || { echo "bundle_for_device: $BUILD has no CUDA build (is nvcc on PATH?)"; exit 1; }
mkdir -p "$OUT/bin" "$OUT/shared/workloads"
for b in pagoda-bench pagoda-check cuda_model_check cuda_kernel_bench libpagoda_torch_bridge.so; do
  if [ -e "$BUILD/$b" ]; then cp "$BUILD/$b" "$OUT/bin/"; else echo "bundle_for_device: $BUILD/$b missing"; exit 1; fi
done
# Every CUDA kernel test (tests/cuda/*_test.*): run_on_device.sh runs each one it finds.
for t in native/tests/cuda/*_test.cu native/tests/cuda/*_test.cpp; do
  b=$(basename "${t%.*}")
  if [ -e "$BUILD/$b" ]; then cp "$BUILD/$b" "$OUT/bin/"; else echo "bundle_for_device: $BUILD/$b missing"; exit 1; fi
done
rm -rf "$OUT/shared/models" "$OUT/shared/fixtures" "$OUT/shared/configs"
mkdir -p "$OUT/shared/fixtures"
cp -r "$SHARED/models" "$SHARED/configs" "$OUT/shared/"
cp -r "$SHARED/fixtures/golden" "$OUT/shared/fixtures/"
cp "$SHARED/workloads/sharegpt-like.json" "$OUT/shared/workloads/"
git describe --always --dirty --abbrev=7 > "$OUT/COMMIT"
du -sh "$OUT"
echo "bundle_for_device: carry $OUT; on the device: native/tests/cuda/bench_on_device.sh \$OUT \$(cat $OUT/COMMIT)"
