#!/bin/bash
# Issue 16 on the device, in one call: the encoder kernel tests, then the wave2 embedding /
# rerank goldens on the GPU (pooling_golden_cuda_test: a line per check, the step and a backtrace
# on a crash); if that test fails, it is taken apart in the same call: each checkpoint alone,
# compute-sanitizer memcheck on the failing ones, one run with PDL off and launches blocking, and
# for those that crashed gdb's backtrace where gdb exists. Then the bge-m3-shaped throughput of pagoda-embed-bench beside
# sentence-transformers (bench/st_embed_bench.py). Everything it needs is in the carried folder
# (encoder_bundle_for_device.sh fills it); results land in $1 (checks.log, diagnosis.log, bench.log).
# Usage: native/tests/cuda/encoder_on_device.sh <out dir> [carried folder (.dev-carry/encoder2)]
# CHECKS_ONLY=1: the tests (and their diagnosis) and the engine's default-budget figure only.
# DIAGNOSIS_S (default 300): seconds the diagnosis may take in all, so one call stays inside the
# device's 10-minute limit; steps past it are named as skipped.
set -u
OUT=${1:?out dir}
C=${2:-.dev-carry/encoder2}
mkdir -p "$OUT"
export PAGODA_SHARED="$C/shared"
CHECKPOINTS="tiny-bert-embed tiny-xlmr-embed tiny-qwen3-embed tiny-bert-rerank tiny-xlmr-rerank"
status=0
golden_failed=0
{
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader
  cat "$C/COMMIT"
  for t in varlen_attention_test encoder_kernels_test elementwise_kernels_test pooling_golden_cuda_test; do
    echo "== $t"
    timeout 300 "$C/bin/$t" # a hang ends as exit 124, inside the call
    rc=$?
    if [ $rc -ne 0 ]; then
      echo "FAILED: $t (exit $rc$([ $rc -gt 128 ] && echo ", signal $((rc - 128))"))"
      status=1
      if [ "$t" = pooling_golden_cuda_test ]; then
        golden_failed=1
      elif command -v compute-sanitizer >/dev/null; then
        # Where a kernel faults or reads out of bounds, the sanitizer names it.
        compute-sanitizer --print-limit 5 "$C/bin/$t" 2>&1 | tail -30
      fi
    fi
  done
} > "$OUT/checks.log" 2>&1

if [ $golden_failed = 1 ]; then
  LOGS=$(mktemp -d) # per-checkpoint logs stay here: only their tails go into diagnosis.log (few files come back)
  diagnosis_end=$((SECONDS + ${DIAGNOSIS_S:-300}))
  in_time() { [ $SECONDS -lt $diagnosis_end ] || { echo "(skipped, past DIAGNOSIS_S: $*)"; false; }; }
  {
    echo "== each checkpoint alone"
    failing="" crashed=""
    for m in $CHECKPOINTS; do
      timeout 120 "$C/bin/pooling_golden_cuda_test" "$m" > "$LOGS/golden-$m.log" 2>&1
      rc=$?
      echo "$m: exit $rc$([ $rc -gt 128 ] && echo " (signal $((rc - 128)))")"
      [ $rc -gt 128 ] && crashed="$crashed $m"
      [ $rc -ne 0 ] && failing="$failing $m" && tail -25 "$LOGS/golden-$m.log"
    done
    for m in ${failing:-$CHECKPOINTS}; do
      if command -v compute-sanitizer >/dev/null && in_time "memcheck $m"; then
        echo "== compute-sanitizer memcheck: $m"
        timeout 120 compute-sanitizer --tool memcheck --print-limit 10 "$C/bin/pooling_golden_cuda_test" "$m" 2>&1 | tail -40
      fi
      in_time "PDL off $m" || continue
      echo "== PAGODA_CUDA_PDL=0 CUDA_LAUNCH_BLOCKING=1: $m"
      timeout 60 env PAGODA_CUDA_PDL=0 CUDA_LAUNCH_BLOCKING=1 "$C/bin/pooling_golden_cuda_test" "$m" 2>&1 | tail -15
      if case " $crashed " in *" $m "*) true ;; *) false ;; esac && command -v gdb >/dev/null && in_time "gdb $m"; then
        echo "== gdb: $m"
        timeout 60 gdb -q -batch -ex run -ex bt -ex "info registers rip" --args "$C/bin/pooling_golden_cuda_test" "$m" \
          2>&1 | tail -40
      fi
    done
  } > "$OUT/diagnosis.log" 2>&1
fi

PASSAGES=${PASSAGES:-10000}
echo "== pagoda-embed-bench" > "$OUT/bench.log"
"$C/bin/pagoda-embed-bench" --model "$C/bge-m3-shape.json" --load-format dummy --device cuda --dtype bfloat16 \
  --num-passages "$PASSAGES" --passage-len 256 --out "$OUT/pagoda.json" >> "$OUT/bench.log" 2>&1 || status=1
if [ "${CHECKS_ONLY:-0}" != 1 ]; then
echo "== pagoda-embed-bench, 65536-token forwards" >> "$OUT/bench.log"
"$C/bin/pagoda-embed-bench" --model "$C/bge-m3-shape.json" --load-format dummy --device cuda --dtype bfloat16 \
  --num-passages "$PASSAGES" --passage-len 256 --max-num-batched-tokens 65536 --out "$OUT/pagoda-64k.json" \
  >> "$OUT/bench.log" 2>&1 || status=1
echo "== sentence-transformers" >> "$OUT/bench.log"
python3 "$C/st_embed_bench.py" --config "$C/bge-m3-shape.json" --st-folder "$C/shared/models/wave2/tiny-xlmr-embed" \
  --num-passages "$PASSAGES" --passage-len 256 --out "$OUT/st.json" >> "$OUT/bench.log" 2>&1 || status=1
fi
tail -c 6000 "$OUT/checks.log"
[ -f "$OUT/diagnosis.log" ] && tail -c 5000 "$OUT/diagnosis.log"
tail -c 1500 "$OUT/bench.log"
exit $status
