#!/bin/bash
# Fills the folder trace_on_device.sh reads on the device: the kernel timeline of decode steps as they run
# (CUDA graphs + PDL) through the CUPTI injection library, which nsys cannot give there. pagoda-bench,
# pagoda-check, skinny_gemm_test, elementwise_kernels_test, sample_rows_test, cuda_graph_test, kv_cache_dtype_test and libpagoda_kernel_trace.so built
# here for sm_90a with CUDA's libcupti.so.13 beside them (stripped, gzipped), the Llama-3-8B configs (bf16 / GPTQ /
# AWQ / FP8-dynamic), the ShareGPT-like workload, the wave2 quantized and tiny bf16 checkpoints with their goldens
# (for CHECKS=1), the summary script and COMMIT. Run from the repository root; it builds the targets in BUILD
# first. DEST is git-ignored (.dev-carry).
# Usage: [TRACE_CHECKS=0] native/tests/cuda/trace_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/trace)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin trace_bundle_for_device .dev-carry/trace "$@"
BINS=(pagoda-bench pagoda-check quant_gemm_test quant_gemm_silu_test skinny_gemm_test elementwise_kernels_test sample_rows_test cuda_graph_test kv_cache_dtype_test libpagoda_kernel_trace.so)
bundle_build pagoda-bench pagoda-check quant_gemm_test quant_gemm_silu_test skinny_gemm_test elementwise_kernels_test sample_rows_test cuda_graph_test kv_cache_dtype_test pagoda_kernel_trace
bundle_fresh configs shared/models/wave2 shared/fixtures/wave2/golden shared/fixtures/golden
bundle_bins "${BINS[@]}"
CUPTI=$(ldd "$BUILD/libpagoda_kernel_trace.so" | awk '/libcupti/ {print $3}')
[ -f "$CUPTI" ] || bundle_die "libcupti.so.13 not found beside CUDA"
cp "$CUPTI" "$DEST/bin/"
bundle_gzip_bins
cp bench/configs/llama-3-8b-gptq-int4.json bench/configs/llama-3-8b-awq-int4.json bench/configs/llama-3-8b-fp8-dynamic.json \
  "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
cp "$SHARED/workloads/sharegpt-like.json" "$DEST/"
# TRACE_CHECKS=0: no checkpoints (CHECKS=1 needs them): ~27 MB less, so the trace fits beside the 11 MB tree with room.
if [ "${TRACE_CHECKS:-1}" = 1 ]; then
  bundle_checkpoints gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block -- tiny-llama3 tiny-qwen3 tiny-qwen2
else
  rm -rf "$DEST/shared"
fi
cp native/tests/cuda/trace_on_device.sh native/tests/cuda/kernel_trace_summary.py native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 54 "OUT=\$OUT bash $DEST/trace_on_device.sh"
