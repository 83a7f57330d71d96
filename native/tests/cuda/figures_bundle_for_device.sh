#!/bin/bash
# Fills the folder figures_on_device.sh reads on the device: the README's headline GPU figures and the
# checks behind them in one call. Binaries built here for sm_90a (stripped, gzipped), the Llama-3-8B
# configs (bf16 / GPTQ / AWQ / FP8-dynamic) and Llama-3.1-8B, the ShareGPT-like workload, the tiny bf16
# and wave2 quantized checkpoints with their goldens, the scripts (the figures, Nsight on the decode attention) and COMMIT. About 40 MB. Run from the
# repository root; it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: [BEFORE_BENCH=path] [KERNEL_BENCH=1] [TRACE=1] [DROP="bin ..."] native/tests/cuda/figures_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/figures)]
# The bundle and the tree (~12 MiB) must stay under the 64 MiB a call carries: session 39's call refused a 51 MiB
# bundle and took a 49 MiB one, so the bundle stops at 51 MiB (du -sm). So one of
# kv_cache_dtype_test (the default) and cuda_kernel_bench (KERNEL_BENCH=1: the "uneven" and "plans" runs) is carried;
# the figures script skips what its bundle lacks.
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin figures_bundle_for_device .dev-carry/figures "$@"
bundle_need "$SHARED/models/wave2"
BINS=(quant_gemm_test elementwise_kernels_test sample_rows_test paged_attention_wgmma_test paged_attention_test
      cascade_attention_test cublaslt_test step_timer_test split_norm_test kv_cache_dtype_test pagoda-bench pagoda-check
      cuda_kernel_bench)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models/wave2 shared/fixtures/wave2/golden shared/fixtures/golden
# BEFORE_BENCH=path: a pagoda-bench built at an earlier commit, carried as pagoda-bench-before for the same-call A/B
# figures_on_device.sh runs with it (ShareGPT and random in bf16). It takes cuda_kernel_bench's place (the uneven and
# plans runs), or the bundle and the tree would pass the 64 MiB a call carries.
CARRIED=()
kernel_bench=${KERNEL_BENCH:-0}
[ -n "${BEFORE_BENCH:-}" ] && kernel_bench=0
# DROP="name ...": binaries left out of this bundle (a call that skips their runs, to stay under the size limit).
for b in "${BINS[@]}"; do
  [[ " ${DROP:-} " == *" $b "* ]] && continue
  case $b in
    cuda_kernel_bench) [ "$kernel_bench" = 1 ] && CARRIED+=("$b") ;;
    kv_cache_dtype_test) [ "$kernel_bench" = 1 ] || CARRIED+=("$b") ;;
    *) CARRIED+=("$b") ;;
  esac
done
bundle_bins "${CARRIED[@]}"
if [ -n "${BEFORE_BENCH:-}" ]; then
  [ -x "$BEFORE_BENCH" ] || bundle_die "BEFORE_BENCH $BEFORE_BENCH is not an executable"
  cp "$BEFORE_BENCH" "$DEST/bin/pagoda-bench-before" && strip --strip-unneeded "$DEST/bin/pagoda-bench-before"
fi
bundle_gzip_bins
cp bench/configs/llama-3-8b-gptq-int4.json bench/configs/llama-3-8b-awq-int4.json bench/configs/llama-3-8b-fp8-dynamic.json \
  bench/configs/llama-3.1-8b.json "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
cp "$SHARED/workloads/sharegpt-like.json" "$DEST/"
bundle_checkpoints gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block -- tiny-llama3 tiny-qwen3
cp native/tests/cuda/figures_on_device.sh native/tests/cuda/ncu_decode_on_device.sh native/tests/cuda/ncu_prefill_on_device.sh native/tests/cuda/ncu_lib.sh native/tests/cuda/ncu_source_stalls.py native/tests/cuda/decode_b1_profile_on_device.sh native/tests/cuda/decode_b1_skip_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
# TRACE=1: trace/ with the kernel tracer (libpagoda_kernel_trace.so and CUDA's libcupti.so.13, gzipped: ~1.5 MB),
# kernel_trace_summary.py and sharegpt_ab_on_device.sh (ShareGPT A/Bs and traces from this bundle's pagoda-bench).
if [ "${TRACE:-0}" = 1 ]; then
  bundle_build pagoda_kernel_trace
  mkdir -p "$DEST/trace"
  CUPTI=$(ldd "$BUILD/libpagoda_kernel_trace.so" | awk '/libcupti/ {print $3}')
  [ -f "$CUPTI" ] || bundle_die "libcupti.so.13 not found beside CUDA"
  cp "$BUILD/libpagoda_kernel_trace.so" "$CUPTI" "$DEST/trace/"
  strip --strip-unneeded "$DEST/trace/libpagoda_kernel_trace.so"
  gzip -9 "$DEST/trace/libpagoda_kernel_trace.so" "$DEST/trace/$(basename "$CUPTI")"
  cp native/tests/cuda/kernel_trace_summary.py native/tests/cuda/sharegpt_ab_on_device.sh "$DEST/trace/"
fi
bundle_end --max-mb 51 "OUT=\$OUT bash $DEST/figures_on_device.sh"
