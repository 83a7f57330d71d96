#!/bin/bash
# wt/pdl on the device in one call (~3-5 min): every PDL kernel now reads what an earlier kernel wrote with
# coherent loads (no ld.global.nc after griddepcontrol.wait; checked on the PTX by ctest cuda_pdl_ptx_check).
# 1. pdl_chain_test first (a slow producer writes the input of rms_norm / silu_mul / skinny_gemm launched with
#    PDL; each must equal its no-overlap output bit for bit, every rep), stops the run on failure (memcheck);
# 2. every other kernel test of the bundle (the changed kernels: attention decode / merge / prefill / wgmma /
#    cascade, embedding, fp8 epilogue and quantize, kv_cache_write, norms, rope, silu_mul, skinny_gemm, ...).
# One PASS / FAIL line a test; logs in $OUT/pdl, tarred into $OUT/pdl-logs.tar.gz.
# Bundle: pdl_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/pdl_on_device.sh
SCRIPT=pdl_on_device LOGS=pdl TOTAL_S=${TOTAL_S:-540}
source "$(dirname "$0")/device_run.sh"
unset PAGODA_CUDA_PDL
export PAGODA_SHARED=$B/shared # quant_gemm_test's PDL chain reads tiny-llama-gptq-int4 from it
verdict() { # NAME: PASS with its count line, or SKIP (no device / PDL off) with the reason
  if grep -q "^SKIP $1" "$OUT_DIR/$1.log"; then echo "SKIP $(grep -E "^SKIP $1" "$OUT_DIR/$1.log" | head -1 | cut -c6-)"
  else echo "PASS $1: $(grep -E "passed" "$OUT_DIR/$1.log" | tail -1)"; fi
}
test_or_stop pdl_chain_test 120 "$BIN/pdl_chain_test"
verdict pdl_chain_test
for t in "$BIN"/*_test; do
  name=$(basename "$t")
  [ "$name" = pdl_chain_test ] && continue
  args=()
  [ "$name" = sample_rows_test ] && args=("$B/shared/models/tiny-llama3") # its engine checks load a checkpoint
  if run "$name" 150 "$t" "${args[@]}"; then
    verdict "$name"
  else
    echo "FAIL $name"
    grep -E "^FAIL" "$OUT_DIR/$name.log" | head -10
  fi
done
finish
