#!/bin/bash
# Issue 20 (PAGODA_DECODE_FUSED: RoPE + KV cache write in one kernel, decode attention's split-K
# merge in its last block) on the device in one call, ~7 minutes, in order:
#   tests    paged_attention_test (every split plan also fused: against the reference, within a bf16
#            step of the merge kernel, a replay on the same workspace bit for bit, counters back at
#            0), rope_kv_cache_write_test (= rope_neox then kv_cache_write bit for bit, bf16 and e4m3)
#   kernels  `cuda_kernel_bench decode`: decode attention with the merge kernel and fused, RoPE + KV
#            write as two kernels and as one, over 32 layers
#   goldens  pagoda-check tiny-llama3 and tiny-qwen3 with the switch 0 and 1; the two logs' figures
#            compared (the same figures expected: the fused path rounds as the plain one, but for a
#            possible bf16 step in a split decode's merge)
#   b1       pagoda-bench batch-1 decode (Llama-3-8B bf16, then GPTQ int4; dummy weights, 512 in,
#            256 out) with the switch 0 and 1, each run's `floor` line
# A step starts only while it can end before TOTAL_S (default 450; run it under a 600 s limit).
# Logs are tarred into $OUT/logs.tar.gz. Bundle: decode_fused_bundle_for_device.sh.
# Usage: bash BUNDLE/decode_fused_on_device.sh
set -u -o pipefail
C=$(cd "$(dirname "$0")" && pwd)
B=/tmp/decode-fused/bin # unpacked from the bundle's bin.tar.xz
rm -rf /tmp/decode-fused && mkdir -p /tmp/decode-fused
if command -v xz > /dev/null; then
  tar xJf "$C/bin.tar.xz" -C /tmp/decode-fused
else
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1], 'r:xz').extractall(sys.argv[2])" "$C/bin.tar.xz" /tmp/decode-fused
fi
[ -x "$B/pagoda-bench" ] || { echo "decode_fused_on_device: no binaries unpacked from $C/bin.tar.xz"; exit 1; }
S=$C/shared
OUT=${OUT:?OUT}
TOTAL_S=${TOTAL_S:-450}
export PAGODA_GIT_COMMIT=$(cat "$C/COMMIT" 2>/dev/null || echo unknown)
L=$OUT/logs
mkdir -p "$L"
start=$(date +%s)
status=0
el() { echo $(($(date +%s) - start)); }
# NAME LIMIT_S COMMAND...: output to logs/NAME.log; not started when it could run past TOTAL_S.
run() {
  local name=$1 limit=$2
  shift 2
  if [ $(($(el) + limit)) -gt "$TOTAL_S" ]; then
    echo "-- $name not started ($(el) s in, may need $limit s)"
    status=1
    return 1
  fi
  echo "== $name ($(el) s in)"
  if ! timeout "$limit" "$@" > "$L/$name.log" 2>&1; then
    echo "!! $name failed or ran past $limit s"
    grep -E "^FAIL" "$L/$name.log" | head -20
    tail -4 "$L/$name.log"
    status=1
    return 1
  fi
}
finish() {
  tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
  echo "decode_fused_on_device: status $status ($(el) s)"
  exit $status
}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
echo "commit $PAGODA_GIT_COMMIT"

echo "### tests"
run paged_attention_test 150 "$B/paged_attention_test"
if [ -f "$L/paged_attention_test.log" ]; then
  tail -1 "$L/paged_attention_test.log"
  echo "   fused merge checks: $(grep -c "fused merge" "$L/paged_attention_test.log"), failed: $(grep -c "^FAIL.*fused" "$L/paged_attention_test.log")"
  # How many outputs differ in bits from the merge kernel's (allowed: one bf16 step), summed.
  grep -E "^info .*fused merge" "$L/paged_attention_test.log" |
    awk '{d += $(NF-10); n += $(NF-8)} END {printf "   fused merge outputs differing in bits from the merge kernel: %d of %d\n", d, n}'
fi
run rope_kv_cache_write_test 60 "$B/rope_kv_cache_write_test"
[ -f "$L/rope_kv_cache_write_test.log" ] && tail -1 "$L/rope_kv_cache_write_test.log"

echo "### kernels"
run kernel_bench_decode 120 "$B/cuda_kernel_bench" decode &&
  grep -E "copy|decode attn +32/8/128 b +(1|16) |fused merge 32/8/128 b +(1|16) |rope" "$L/kernel_bench_decode.log"

echo "### goldens"
for m in tiny-llama3 tiny-qwen3; do
  for f in 0 1; do
    run check-$m-fused$f 60 env PAGODA_DECODE_FUSED=$f "$B/pagoda-check" "$S/fixtures/golden/$m.golden.json" \
      --model "$S/models/$m" --device cuda && echo "   $m fused=$f: $(grep -E "passed|PASS|FAIL" "$L/check-$m-fused$f.log" | tail -1)"
  done
  if grep -q "passed" "$L/check-$m-fused0.log" 2>/dev/null && grep -q "passed" "$L/check-$m-fused1.log" 2>/dev/null; then
    # Figures only (timings and the load line differ run to run).
    if diff <(grep -vE "ms|load|seconds| s$" "$L/check-$m-fused0.log") <(grep -vE "ms|load|seconds| s$" "$L/check-$m-fused1.log") \
      > "$L/check-$m-diff.txt"; then
      echo "   $m: fused and unfused logs report the same figures"
    else
      echo "   $m: fused and unfused figures differ (logs/check-$m-diff.txt):"; head -6 "$L/check-$m-diff.txt"
    fi
  fi
done

echo "### batch-1 decode"
LLAMA="--load-format dummy --device cuda --max-model-len 4096 --batch-size 1 --input-len 512 --output-len 256"
for r in "bf16 llama-3-8b.json" "gptq-int4 llama-3-8b-gptq-int4.json"; do
  set -- $r
  for f in 0 1; do
    name=b1-$1-fused$f
    run $name 80 env PAGODA_DECODE_FUSED=$f "$B/pagoda-bench" --model "$C/configs/$2" $LLAMA --out "$L/$name.json" &&
      echo "   $1 fused=$f: $(grep -E "^floor" "$L/$name.log" | head -1)"
  done
done
finish
