#!/bin/bash
# Every head_dim on the device in one call (binaries and checkpoints from hdim_bundle_for_device.sh):
# makes the head_dim 32 / 80 / 96 checkpoints and goldens with torch + transformers (in the
# background, on the CPU) while paged_attention_test, elementwise_kernels_test, the existing
# goldens and `cuda_kernel_bench hdim` run, then checks the new goldens with pagoda-check on the
# CUDA backend (bf16, and float32). Logs, the bench JSON and a tar of the new checkpoints and
# goldens go to OUT_DIR as each step ends.
# Usage: bash .dev-carry/hdim/hdim_on_device.sh OUT_DIR
set -u -o pipefail
OUT_DIR=${1:?out dir}
C=$(dirname "$0")
B=$C/bin
S=$C/shared
export PAGODA_GIT_COMMIT=$(cat "$C/COMMIT" 2>/dev/null || echo unknown)
mkdir -p "$OUT_DIR/logs"
LOG="$OUT_DIR/steps.log"
status=0
start=$(date +%s)
run() { # NAME LIMIT_S COMMAND...: output to logs/NAME.log, the verdict lines to steps.log
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(($(date +%s) - start)) s in)" | tee -a "$LOG"
  if ! timeout "$limit" "$@" > "$OUT_DIR/logs/$name.log" 2>&1; then
    echo "!! $name failed or ran past ${limit} s" | tee -a "$LOG"
    status=1
  fi
  grep -E "^(FAIL|!!)|passed|rror|^[0-9]+ +|wrote|made" "$OUT_DIR/logs/$name.log" | head -40 | tee -a "$LOG"
}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader | tee -a "$LOG"
GEN=/tmp/hdim-gen
rm -rf $GEN
(PYTHONUNBUFFERED=1 timeout 200 python3 "$C/make_hdim_goldens.py" "$S" $GEN > "$OUT_DIR/logs/make_goldens.log" 2>&1;
 echo $? > /tmp/hdim-gen.rc) &
gen_pid=$!
run paged_attention_test 150 $B/paged_attention_test
run elementwise_kernels_test 60 $B/elementwise_kernels_test
for g in tiny-llama3 tiny-qwen2 tiny-qwen3 tiny-llama-mqa-fp16; do
  run check-$g 60 $B/pagoda-check $S/fixtures/golden/$g.golden.json --model $S/models/$g --device cuda
done
run check-stories260k-f32 60 $B/pagoda-check $S/fixtures/golden/stories260k.golden.json --model $S/models/stories260k \
  --device cuda --dtype float32
run check-stories260k-hd64-f32 60 $B/pagoda-check $S/fixtures/golden/stories260k.golden.json \
  --model $S/models/stories260k-hd64 --device cuda --dtype float32
run kernel_bench_hdim 150 $B/cuda_kernel_bench hdim "$OUT_DIR/h200-attention-head-dims.json"
wait $gen_pid
echo "== make_hdim_goldens rc $(cat /tmp/hdim-gen.rc 2>/dev/null) ($(($(date +%s) - start)) s in)" | tee -a "$LOG"
tail -5 "$OUT_DIR/logs/make_goldens.log" | tee -a "$LOG"
for m in tiny-llama-hd32 tiny-llama-hd80 tiny-llama-hd96; do
  if [ -e $GEN/golden/$m.golden.json ]; then
    run check-$m 60 $B/pagoda-check $GEN/golden/$m.golden.json --model $GEN/models/$m --device cuda
    run check-$m-f32 60 $B/pagoda-check $GEN/golden/$m.golden.json --model $GEN/models/$m --device cuda --dtype float32
  else
    echo "!! no golden for $m" | tee -a "$LOG"
    status=1
  fi
done
[ -d $GEN ] && tar czf "$OUT_DIR/hdim-goldens.tar.gz" -C $GEN .
tar czf "$OUT_DIR/logs.tar.gz" -C "$OUT_DIR" logs && rm -rf "$OUT_DIR/logs"
echo "status $status ($(($(date +%s) - start)) s)" | tee -a "$LOG"
exit $status
