#!/bin/bash
# Fills the folder int4fold_on_device.sh reads on the device (the int4 fold of quant_gemm_lean, PAGODA_INT4_FOLD):
# quant_gemm_test, quant_kernel_bench, pagoda-bench and pagoda-check built here for sm_90a (stripped, gzipped),
# quant_gemm_lean.cu's sm_90a cubin and ptxas -v (the device has cuobjdump, this machine not) with
# sass_loop_count.py, the Llama-3-8B GPTQ / AWQ configs, the wave2 tiny int4 models with their goldens, the
# scripts and COMMIT. Run from the repository root; it builds the targets in BUILD first. DEST is git-ignored.
# Usage: native/tests/cuda/int4fold_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/int4fold)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin int4fold_bundle_for_device .dev-carry/int4fold "$@"
bundle_need "$SHARED/models/wave2"
BINS=(quant_gemm_test quant_kernel_bench pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs sass shared/models/wave2 shared/fixtures/wave2/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
# The kernel file alone, as the build compiles it (CMake's flags for sm_90a), for SASS on the device.
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
"$NVCC" -O3 -DNDEBUG -DPAGODA_CUDA_SM90A=1 -DPAGODA_HAVE_CUDA=1 -Inative/src -std=c++17 -arch=sm_90a -cubin \
  -Xptxas -v native/src/backend/cuda/quant_gemm_lean.cu -o "$DEST/sass/quant_gemm_lean.cubin" 2> "$DEST/sass/ptxas.txt"
cp native/tests/cuda/sass_loop_count.py "$DEST/sass/"
cp bench/configs/llama-3-8b-gptq-int4.json bench/configs/llama-3-8b-awq-int4.json "$DEST/configs/"
for g in gptq-int4 gptq-int4-actorder awq-int4; do
  cp -r "$SHARED/models/wave2/tiny-llama-$g" "$DEST/shared/models/wave2/"
  cp "$SHARED/fixtures/wave2/golden/tiny-llama-$g.golden.json" "$DEST/shared/fixtures/wave2/golden/"
done
cp native/tests/cuda/int4fold_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 60 "OUT=\$OUT bash $DEST/int4fold_on_device.sh"
