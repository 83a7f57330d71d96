#!/bin/bash
# Builds the CUDA tools and tests here (nvcc, sm_90a) and fills the folder the device scripts
# read (.dev-carry/cuda: bin/ and shared/), so one device call, carrying that folder, runs
# run_on_device.sh, bench_on_device.sh and bench_random_on_device.sh. About 50 MB of the
# 64 MiB a call may carry. Run from the repository root.
# Usage: native/tests/cuda/bundle_for_device.sh [build dir (native/build-cuda)] [out (.dev-carry/cuda)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin bundle_for_device .dev-carry/cuda "$@"
bundle_need "$SHARED/models" "$SHARED/models not found"
bundle_configure
bundle_build
[ -x "$BUILD/sample_rows_test" ] || bundle_die "$BUILD has no CUDA build (is nvcc on PATH?)"
# Not a fresh DEST: bin/ is overwritten file by file, shared/ below is replaced.
mkdir -p "$DEST/shared/workloads"
# Not stripped, as this bundle has always been (the others strip).
bundle_bins --no-strip pagoda-bench pagoda-check cuda_model_check cuda_kernel_bench libpagoda_torch_bridge.so
# Every CUDA kernel test (tests/cuda/*_test.*): run_on_device.sh runs each one it finds.
tests=()
for t in native/tests/cuda/*_test.cu native/tests/cuda/*_test.cpp; do tests+=("$(basename "${t%.*}")"); done
bundle_bins --no-strip "${tests[@]}"
rm -rf "$DEST/shared/models" "$DEST/shared/fixtures" "$DEST/shared/configs"
mkdir -p "$DEST/shared/fixtures"
cp -r "$SHARED/models" "$SHARED/configs" "$DEST/shared/"
cp -r "$SHARED/fixtures/golden" "$DEST/shared/fixtures/"
cp "$SHARED/workloads/sharegpt-like.json" "$DEST/shared/workloads/"
bundle_end "native/tests/cuda/bench_on_device.sh \$OUT \$(cat $DEST/COMMIT)"
