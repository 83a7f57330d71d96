#!/bin/bash
# Issue 15 on the device in one call: builds the tree carried in $SRC there (16 cores), then
# the quantized kernels' test, the wave2 quantized goldens on the GPU, the kernel bench, and
# pagoda-bench on the Llama-3-8B shape with dummy weights in each format (bench/configs/)
# beside bf16: batch-1 decode and 500 ShareGPT-like requests. JSON and logs in the out dir.
# Carry: $SRC (native/, bench/configs/, the wave2 tiny-llama checkpoints and goldens, the
# ShareGPT-like workload: see quant_bundle_for_device.sh).
# Usage: native/tests/cuda/quant_on_device.sh [results tarball (default $OUT/quant.tgz)] [git commit]
#   SKIP_BENCH=1: build, test and goldens only.
set -u -o pipefail
TARBALL=${1:-${OUT:-/tmp}/quant.tgz}
OUT_DIR=/tmp/pagoda-quant-out
export PAGODA_GIT_COMMIT=${2:-unknown}
SRC=${SRC:-.dev-carry/cudaq-src}
BUILD=/tmp/pagoda-quant-build
mkdir -p "$OUT_DIR"
status=0
start=$(date +%s)
run() { # NAME LIMIT_S COMMAND...: output to NAME.log as well
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(($(date +%s) - start)) s in)"
  if ! timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1; then
    echo "!! $name failed or ran past ${limit} s"
    status=1
  fi
  grep -E "^(FAIL|!!)|passed|error|Error" "$OUT_DIR/$name.log" | head -12
}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
if [ -x "$SRC/prebuilt/quant_gemm_test" ]; then
  # A kernel test built on the dev machine runs while nothing else is built: a failing kernel
  # ends the call before the build and the benchmarks spend device time on it.
  run quant_gemm_test-prebuilt 200 "$SRC/prebuilt/quant_gemm_test"
  if [ $status != 0 ]; then tar czf "$TARBALL" -C "$OUT_DIR" .; exit 1; fi
fi
cmake -S "$SRC/native" -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DPAGODA_ADDON=OFF > "$OUT_DIR/build.log" 2>&1 &&
  ninja -C $BUILD -j16 pagoda-bench pagoda-check quant_gemm_test quant_kernel_bench >> "$OUT_DIR/build.log" 2>&1 ||
  { echo "build failed"; grep -E "error" -A3 "$OUT_DIR/build.log" | head -30; tar czf "$TARBALL" -C "$OUT_DIR" .; exit 1; }
echo "== built ($(($(date +%s) - start)) s in)"
run quant_gemm_test 200 $BUILD/quant_gemm_test
S=$SRC/shared
for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block; do
  run golden-$g 60 $BUILD/pagoda-check $S/golden/tiny-llama-$g.golden.json --model $S/models/tiny-llama-$g --device cuda
done
for g in fp8-dynamic fp8-block; do
  run golden-$g-w8a8 60 $BUILD/pagoda-check $S/golden/tiny-llama-$g.w8a8.golden.json --model $S/models/tiny-llama-$g \
    --device cuda
done
finish() {
  tar czf "$TARBALL" -C "$OUT_DIR" .
  echo "quant_on_device: status $status ($(($(date +%s) - start)) s)"
  exit $status
}
[ "${SKIP_BENCH:-0}" = 1 ] && finish
LLAMA="--load-format dummy --device cuda --max-model-len 4096"
for f in bf16 gptq-int4 awq-int4 fp8-dynamic fp8-block; do
  cfg=$SRC/bench/configs/llama-3-8b-$f.json
  [ $f = bf16 ] && cfg=$SRC/shared/llama-3-8b.json
  run decode-b1-$f 150 $BUILD/pagoda-bench --model $cfg $LLAMA --batch-size 1 --input-len 512 --output-len 256 \
    --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1.json"
  grep -iE "ms/token|floor|tok/s" "$OUT_DIR/decode-b1-$f.log" | head -4
done
for f in bf16 fp8-dynamic; do
  cfg=$SRC/bench/configs/llama-3-8b-$f.json
  [ $f = bf16 ] && cfg=$SRC/shared/llama-3-8b.json
  run sharegpt-500-$f 150 $BUILD/pagoda-bench --model $cfg $LLAMA --dataset $S/sharegpt-like.json --num-prompts 500 \
    --out "$OUT_DIR/h200-llama3-8b-$f-sharegpt-500.json"
  grep -iE "req/s" "$OUT_DIR/sharegpt-500-$f.log" | head -3
done
run quant_kernel_bench 200 $BUILD/quant_kernel_bench "$OUT_DIR/h200-quant-kernels.json"
tail -6 "$OUT_DIR/quant_kernel_bench.log"
finish
