# Sourced by the one-call device scripts (quant_lean_on_device.sh; the bulk GEMV ones were removed
# after 8f1c449): a run budget, per-step logs and one tarball back. Set before sourcing:
#   SCRIPT (the caller's name), LOGS (the log folder under $OUT), TOTAL_S (seconds a run may end by).
# Gives OUT_DIR, BIN, B (the bundle), CARD (h200 / h100 / gpu: the prefix of result files, from the card that ran
# them; a call for one kind may run on another), status, el, skipped, run, finish, test_or_stop and every_golden. What the
# caller prints also goes to summary.txt in the logs. hdim_goldens: the head_dim 32 / 80 / 96 goldens alone.
set -u -o pipefail
B=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) # the bundle: this file lies beside the caller
BIN=$B/bin
OUT=${OUT:?OUT}
OUT_DIR=$OUT/$LOGS
export PAGODA_GIT_COMMIT=$(cat "$B/COMMIT" 2>/dev/null || echo unknown)
mkdir -p "$OUT_DIR"
exec > >(tee "$OUT_DIR/summary.txt") 2>&1
case "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" in
  *H200*) CARD=h200 ;;
  *H100*) CARD=h100 ;;
  *) CARD=gpu ;;
esac
start=$(date +%s)
status=0
el() { echo $(($(date +%s) - start)); }
# NAME: whether the caller's SKIP list names it.
skipped() { [[ " ${SKIP:-} " == *" $1 "* ]]; }
finish() {
  echo "$SCRIPT: status $status ($(el) s)"
  sleep 0.5 # tee writes the last lines
  tar czf "$OUT/$LOGS-logs.tar.gz" -C "$OUT" "$LOGS" && rm -rf "$OUT_DIR"
  exit $status
}
# NAME LIMIT_S COMMAND...: output to NAME.log; skipped when it could run past TOTAL_S.
run() {
  local name=$1 limit=$2
  shift 2
  local now=$(el)
  if [ $((now + limit)) -gt "$TOTAL_S" ]; then
    echo "-- $name not started ($now s in, may need $limit s)"
    status=1
    return 1
  fi
  echo "== $name ($now s in)"
  if ! timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1; then
    echo "!! $name failed or ran past $limit s"
    tail -8 "$OUT_DIR/$name.log"
    status=1
    return 1
  fi
}
# NAME LIMIT_S COMMAND...: the kernel test that must pass before anything is timed; on failure its
# FAIL lines, compute-sanitizer memcheck on the same command (120 s), and the run ends.
test_or_stop() {
  local name=$1
  run "$@" && return 0
  shift 2
  grep -E "^FAIL" "$OUT_DIR/$name.log" | head -30
  if command -v compute-sanitizer > /dev/null; then
    echo "== compute-sanitizer memcheck ($(el) s in)"
    timeout 120 compute-sanitizer --tool memcheck --print-limit 10 "$@" > "$OUT_DIR/memcheck.log" 2>&1
    grep -E "ERROR SUMMARY|Invalid|Address|at 0x|by thread" "$OUT_DIR/memcheck.log" | head -30
  fi
  echo "$SCRIPT: the kernel test failed; nothing timed"
  status=1
  finish
}
# Every golden through pagoda-check with the defaults, from $S (the bundle's shared/, bundle_checkpoints with all
# wave2 formats and tiny-llama3 / tiny-qwen3): the wave2 quantized ones in bf16 (and W8A8), the tiny bf16 ones, and
# the head_dim 32 / 80 / 96 ones of native/tests/fixtures/hdim.
# An argument (SUFFIX) names the logs golden-*-SUFFIX, for a second pass under a switch the caller exported.
every_golden() {
  local g m x=${1:+-$1}
  for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block fp8-dynamic.w8a8 fp8-block.w8a8; do
    run golden-$g$x 40 "$BIN/pagoda-check" "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" \
      --model "$S/models/wave2/tiny-llama-${g%.w8a8}" --device cuda --dtype auto
    echo "   golden $g$x: $(grep -E "passed" "$OUT_DIR/golden-$g$x.log" | tail -1)"
  done
  for m in tiny-llama3 tiny-qwen3; do
    run golden-$m$x 40 "$BIN/pagoda-check" "$S/fixtures/golden/$m.golden.json" --model "$S/models/$m" --device cuda
    echo "   golden $m$x: $(grep -E "passed" "$OUT_DIR/golden-$m$x.log" | tail -1)"
  done
  hdim_goldens "$@"
}
# Issue 20's head_dim 32 / 80 / 96 goldens through pagoda-check; their checkpoints travel in the working tree, not in
# the bundle (.dev-carry/NAME/../..). SUFFIX as every_golden's.
hdim_goldens() {
  local m x=${1:+-$1} h=$B/../../native/tests/fixtures/hdim
  for m in tiny-llama-hd32 tiny-llama-hd80 tiny-llama-hd96; do
    if [ ! -d "$h/models/$m" ]; then
      echo "!! golden $m$x: $h/models/$m is not in this tree"
      status=1
      continue
    fi
    run golden-$m$x 40 "$BIN/pagoda-check" "$h/golden/$m.golden.json" --model "$h/models/$m" --device cuda
    echo "   golden $m$x: $(grep -E "passed" "$OUT_DIR/golden-$m$x.log" | tail -1)"
  done
}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
