#!/bin/bash
# The int4 fold of quant_gemm_lean (PAGODA_INT4_FOLD=1: no HSUB2 a pair, the zero point by a second mma on x;
# 1 / 2 warps a CTA as further choices) on the device in one call (~4-5 min, capped at TOTAL_S, default 330),
# in order: quant_gemm_test (the fold against the float64 reference within its f32 bound, plus its PDL chain,
# beside the bit-for-bit lean checks: must pass before anything is timed; memcheck on failure);
# `quant_kernel_bench int4fold` (today's lean beside every fold variant and the copy floor, GPTQ g128 / AWQ g128 /
# GPTQ g64 at m 1, 2, 4, 8, one token's 128 GEMMs back to back); the goldens gptq-int4, gptq-int4-actorder and
# awq-int4 through pagoda-check with the switch on; pagoda-bench batch-1 GPTQ and AWQ with the switch 0 and 1
# (and once more with the switch 1 and the environment FOLD_EXTRA, e.g. "PAGODA_INT4_FOLD_TILES=2
# PAGODA_INT4_FOLD_WARPS=2", where FOLD_EXTRA is given); the hot loop's SASS a weight (cuobjdump
# + sass_loop_count.py, if cuobjdump is there) and ptxas -v; ncu on `quant_kernel_bench int4fold-profile`
# (today's lean and the fold) if ncu is there and time is left.
# Logs and JSON go to $OUT/int4fold, tarred into $OUT/int4fold-logs.tar.gz.
# Bundle: int4fold_bundle_for_device.sh. Usage: OUT=/some/dir [FOLD_EXTRA="VAR=V ..."] bash BUNDLE/int4fold_on_device.sh
SCRIPT=int4fold_on_device LOGS=int4fold TOTAL_S=${TOTAL_S:-330}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/int4fold-bin && tar xzf "$B/bin.tar.gz" -C /tmp/int4fold-bin && BIN=/tmp/int4fold-bin/bin
S=$B/shared
export PAGODA_SHARED=$S # quant_gemm_test reads tiny-llama-gptq-int4 from it
unset PAGODA_QUANT_GEMM_LEAN PAGODA_INT4_FOLD PAGODA_INT4_FOLD_WARPS PAGODA_INT4_FOLD_TILES # runs set them

test_or_stop quant_gemm_test 120 "$BIN/quant_gemm_test"
grep -E "passed" "$OUT_DIR/quant_gemm_test.log" | tail -1
echo "   fold checks: $(grep -c "fold" "$OUT_DIR/quant_gemm_test.log") lines, $(grep -E "^FAIL.*fold" "$OUT_DIR/quant_gemm_test.log" | wc -l) failed"
grep -E "largest \(err" "$OUT_DIR/quant_gemm_test.log" | sort -t' ' -k1,1 | awk '{print "   " $0}' | head -12

run quant_kernel_bench-int4fold 90 "$BIN/quant_kernel_bench" int4fold "$OUT_DIR/h200-int4fold-kernels.json"
grep -E "^device|floor" "$OUT_DIR/quant_kernel_bench-int4fold.log" | head -70

for g in gptq-int4 gptq-int4-actorder awq-int4; do
  run golden-$g-fold 40 env PAGODA_INT4_FOLD=1 "$BIN/pagoda-check" "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" \
    --model "$S/models/wave2/tiny-llama-$g" --device cuda --dtype auto
  echo "   golden $g (PAGODA_INT4_FOLD=1): $(grep -E "passed" "$OUT_DIR/golden-$g-fold.log" | tail -1)"
done

L="--load-format dummy --device cuda --max-model-len 4096"
for f in gptq-int4 awq-int4; do
  for sw in 0 1 ${FOLD_EXTRA:+extra}; do
    name=decode-b1-$f-fold$sw
    extra=()
    [ "$sw" = extra ] && read -r -a extra <<< "$FOLD_EXTRA"
    run "$name" 70 env PAGODA_INT4_FOLD=$([ "$sw" = 0 ] && echo 0 || echo 1) "${extra[@]}" "$BIN/pagoda-bench" \
      --model "$B/configs/llama-3-8b-$f.json" $L --batch-size 1 --input-len 512 --output-len 128 \
      --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-fold$sw.json" &&
      echo "   batch-1 $f PAGODA_INT4_FOLD ${sw} ${extra[*]}: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
  done
done

# SASS of the hot loop a weight (four warps; HMMA a chunk: 4 today, 8 the fold, 6 / 8 the fold's two tiles sym /
# zeros, a chunk being 16 rows x 64 k) and registers / spills.
grep -A3 "Compiling entry" "$B/sass/ptxas.txt" | grep -E "entry|registers|spill" > "$OUT_DIR/ptxas.txt"
CUOBJDUMP=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
if [ -x "$CUOBJDUMP" ]; then
  "$CUOBJDUMP" -sass "$B/sass/quant_gemm_lean.cubin" > "$OUT_DIR/quant_gemm_lean.sass" 2>&1
  for v in "g128 sym lean|4|ELi2ELi2ELi4ELb0ELb1E6__halfLi5ELb0ELi1E" "g128 sym fold|8|ELi2ELi2ELi4ELb0ELb1E6__halfLi5ELb1ELi1E" \
           "g128 sym fold t2|6|ELi2ELi2ELi4ELb0ELb1E6__halfLi4ELb1ELi2E" \
           "g128 zeros lean|4|ELi2ELi2ELi4ELb1ELb1E6__halfLi5ELb0ELi1E" "g128 zeros fold|8|ELi2ELi2ELi4ELb1ELb1E6__halfLi5ELb1ELi1E" \
           "g128 zeros fold t2|8|ELi2ELi2ELi4ELb1ELb1E6__halfLi4ELb1ELi2E" \
           "g64 sym lean|4|ELi1ELi4ELi4ELb0ELb1E6__halfLi5ELb0ELi1E" "g64 sym fold|8|ELi1ELi4ELi4ELb0ELb1E6__halfLi5ELb1ELi1E" \
           "g64 sym fold t2|6|ELi1ELi4ELi4ELb0ELb1E6__halfLi4ELb1ELi2E" \
           "g64 zeros lean|4|ELi1ELi4ELi4ELb1ELb1E6__halfLi5ELb0ELi1E" "g64 zeros fold|8|ELi1ELi4ELi4ELb1ELb1E6__halfLi5ELb1ELi1E" \
           "g64 zeros fold t2|8|ELi1ELi4ELi4ELb1ELb1E6__halfLi4ELb1ELi2E"; do
    IFS='|' read -r label per frag <<< "$v"
    echo "   sass int4 $label:"
    python3 "$B/sass/sass_loop_count.py" --mma-a-chunk "$per" "$OUT_DIR/quant_gemm_lean.sass" "QuantFormatE0$frag" |
      sed -n '2,3p' | sed 's/^/     /'
  done | tee "$OUT_DIR/sass-loop.txt"
else
  echo "-- no cuobjdump on this machine"
fi

NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1 || true)
if [ -n "$NCU" ]; then
  run ncu-int4fold 120 "$NCU" --clock-control none --kernel-name-base demangled --kernel-name regex:"quant_gemm" \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section Occupancy --section LaunchStats --section InstructionStats "$BIN/quant_kernel_bench" int4fold-profile
  grep -E "^  [a-z_].*\(|Duration|DRAM Throughput|Issued Warp|Eligible Warps|Active Warps Per|Registers Per|Executed Instructions  |Achieved Occupancy" \
    "$OUT_DIR/ncu-int4fold.log" | head -120
else
  echo "-- no ncu"
fi
finish
