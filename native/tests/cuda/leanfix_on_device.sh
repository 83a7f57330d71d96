#!/bin/bash
# The lean kernel's PDL fix (wt/leanfix) on the device in one call (~5-7 min). The cause found without a GPU:
# quant_gemm_lean read x through ld.global.nc (x was a const __restrict__ parameter), which griddepcontrol.wait
# does not order, so in the engine's PDL chain (rms_norm / attention / silu_mul -> linear) it could read the
# x of before; quant_gemm_test never saw it (its x came from a cudaMemcpy). In order:
#  1. quant_gemm_test (must pass; memcheck on failure): now with the PDL chain checks (a slow producer writes
#     x, then quant_gemm_lean / quant_gemm launched with PDL equal quant_gemm bit for bit, every rep);
#  2. every wave2 quantized golden through pagoda-check with the lean kernel on by default (expect 7 x "0 failed");
#     the GPTQ one again with PAGODA_QUANT_GEMM_LEAN=0 (control) and with PAGODA_CUDA_PDL=0;
#  3. with OLD (the session-9 bundle, .dev-carry/lean, built before the fix): its pagoda-check on the GPTQ golden
#     with lean 1 and PDL on (expect the case-0 FAIL again) and with PAGODA_CUDA_PDL=0 (expect ok: PDL ordering
#     is the cause), then cuobjdump -sass of the GPTQ-sym lean kernel old and new: LDG...CONSTANT before ACQBULK
#     in the old one is the hoisted read;
#  4. pagoda-bench batch-1 decode of Llama-3-8B GPTQ (dummy weights), lean default and PAGODA_QUANT_GEMM_LEAN=0.
# Logs go to $OUT/leanfix, tarred into $OUT/leanfix-logs.tar.gz.
# Bundle: leanfix_bundle_for_device.sh. Usage: OUT=/some/dir [OLD=.dev-carry/lean] bash BUNDLE/leanfix_on_device.sh
SCRIPT=leanfix_on_device LOGS=leanfix TOTAL_S=${TOTAL_S:-540}
source "$(dirname "$0")/device_run.sh"
unset PAGODA_QUANT_GEMM_LEAN PAGODA_QUANT_GEMM_LEAN_DEEP PAGODA_CUDA_PDL
export PAGODA_SHARED=$B/shared # quant_gemm_test's PDL chain reads tiny-llama-gptq-int4 from it
test_or_stop quant_gemm_test 150 "$BIN/quant_gemm_test"
grep -E "passed" "$OUT_DIR/quant_gemm_test.log" | tail -1
echo "   PDL chain checks: $(grep -c "PDL chain" "$OUT_DIR/quant_gemm_test.log") lines, $(grep -E "^FAIL.*PDL chain" "$OUT_DIR/quant_gemm_test.log" | wc -l) failed"

S=$B/shared
golden() { # NAME CHECKPOINT BINARY ENV...
  local name=$1 g=$2 bin=$3
  shift 3
  run "$name" 40 env "$@" "$bin" "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" \
    --model "$S/models/wave2/tiny-llama-${g%.w8a8}" --device cuda --dtype auto
  echo "   $name: $(grep -E "^0 " "$OUT_DIR/$name.log" | head -1 | tr -s ' ' | cut -c1-90) | $(grep -E "passed" "$OUT_DIR/$name.log" | tail -1)"
}
for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block fp8-dynamic.w8a8 fp8-block.w8a8; do
  golden golden-$g "$g" "$BIN/pagoda-check" PAGODA_W8A8_FUSED=1
done
golden golden-gptq-int4-lean0 gptq-int4 "$BIN/pagoda-check" PAGODA_QUANT_GEMM_LEAN=0
golden golden-gptq-int4-pdl0 gptq-int4 "$BIN/pagoda-check" PAGODA_CUDA_PDL=0

OLD=${OLD:-}
if [ -n "$OLD" ] && [ -x "$OLD/bin/pagoda-check" ]; then
  echo "   (before the fix: old-golden-gptq-int4-lean1 is expected to FAIL case 0, as in session 9)"
  golden old-golden-gptq-int4-lean1 gptq-int4 "$OLD/bin/pagoda-check" PAGODA_QUANT_GEMM_LEAN=1
  golden old-golden-gptq-int4-lean1-pdl0 gptq-int4 "$OLD/bin/pagoda-check" PAGODA_QUANT_GEMM_LEAN=1 PAGODA_CUDA_PDL=0
  CUOBJDUMP=$(command -v cuobjdump || ls /usr/local/cuda/bin/cuobjdump 2>/dev/null | head -1 || true)
  K=_ZN6pagoda4cuda4lean22quant_gemm_lean_kernelILNS0_11QuantFormatE0ELi2ELi2ELi8ELb0ELb1E6__halfLi5EEEvPK13__nv_bfloat16NS0_15QuantizedWeightEPS5_iif
  if [ -n "$CUOBJDUMP" ]; then
    for which in old new; do
      bin=$BIN/pagoda-check
      [ $which = old ] && bin=$OLD/bin/pagoda-check
      "$CUOBJDUMP" -sass -fun "$K" "$bin" > "$OUT_DIR/sass-$which.txt" 2>&1
      echo "   sass $which (GPTQ sym, 8 warps): global loads and the PDL wait in program order:"
      grep -E "ACQBULK|LDG|griddep" "$OUT_DIR/sass-$which.txt" | head -24 | sed 's/^ */      /'
    done
  else
    echo "-- no cuobjdump"
  fi
else
  echo "-- no OLD bundle (OLD=.dev-carry/lean from session 9): the before-fix runs are skipped"
fi

LLAMA="--load-format dummy --device cuda --max-model-len 4096"
for sw in default 0; do
  name=decode-b1-gptq-int4-lean-$sw
  envs=PAGODA_QUANT_GEMM_LEAN_DEEP=0
  [ $sw = 0 ] && envs=PAGODA_QUANT_GEMM_LEAN=0
  run "$name" 75 env $envs "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b-gptq-int4.json" $LLAMA \
    --batch-size 1 --input-len 512 --output-len 128 --out "$OUT_DIR/h200-llama3-8b-gptq-int4-decode-b1-lean-$sw.json" &&
    echo "   gptq-int4 lean $sw: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
done
finish
