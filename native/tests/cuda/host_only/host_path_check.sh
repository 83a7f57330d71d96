#!/bin/bash
# The host side of pooling_golden_cuda_test on a machine with no GPU: its object and
# libpagoda_core.a linked against the host-only runtime here (fake_cudart.cpp, fake_cublaslt.cpp),
# run under valgrind. Kernels do not run, so the numeric checks fail (exit 1) by design; what
# this checks is everything else the host does on the GPU path for all five wave2 checkpoints,
# alone and packed: no crash, no invalid host memory access (valgrind), no device pointer read by
# the host (it is PROT_NONE here), no host pointer handed to a kernel or cuBLASLt, no copy of the
# wrong kind, every step reached through "exit"; then the same with every CUDA call failing from
# the N-th one on (sticky, as after a device fault), for N across the run: errors must surface as
# exceptions, not crashes.
# Usage (repository root, after building pooling_golden_cuda_test in the CUDA build):
#   native/tests/cuda/host_only/host_path_check.sh [build dir (native/build-cuda)]
set -u
BUILD=${1:-native/build-cuda}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
OBJ="$BUILD/CMakeFiles/pooling_golden_cuda_test.dir/tests/cuda/pooling_golden_cuda_test.cpp.o"
[ -f "$OBJ" ] || { echo "host_path_check: build pooling_golden_cuda_test in $BUILD first"; exit 2; }
g++ -std=c++17 -O1 -g -c "$HERE/fake_cudart.cpp" -o "$WORK/fake_cudart.o" &&
  g++ -std=c++17 -O1 -c "$HERE/fake_device_prop.cpp" -I"$CUDA_INC" -o "$WORK/fake_device_prop.o" &&
  g++ -std=c++17 -O1 -g -shared -fPIC "$HERE/fake_cublaslt.cpp" -o "$WORK/libcublasLt_fake.so" -ldl &&
  g++ -rdynamic "$OBJ" "$BUILD/libpagoda_core.a" "$WORK/fake_cudart.o" "$WORK/fake_device_prop.o" -ldl -lpthread \
    -o "$WORK/pooling_golden_host_only" || { echo "host_path_check: build failed"; exit 2; }
export PAGODA_CUBLASLT="$WORK/libcublasLt_fake.so"
failed=0
# 1. The whole run under valgrind: exit 1 (numbers), no valgrind error (exit 9), no signal.
valgrind -q --error-exitcode=9 "$WORK/pooling_golden_host_only" > "$WORK/run.log" 2>&1
rc=$?
steps=$(grep -c '^-- ' "$WORK/run.log")
if [ $rc -ne 1 ] || grep -q 'FAKECUDA\|FAKECUBLASLT\|CRASH' "$WORK/run.log" || ! grep -q '^-- exit$' "$WORK/run.log"; then
  echo "host_path_check: FAILED: the host path under valgrind (exit $rc, $steps steps):"
  grep -v 'CHECK failed' "$WORK/run.log" | tail -30
  failed=1
else
  echo "host_path_check: host path of all five checkpoints: $steps steps through exit, valgrind clean, no device" \
       "pointer read on the host, no host pointer given to a kernel or cuBLASLt"
fi
# 2. Sticky CUDA errors from the N-th call on: every run must end in exit 1, never a signal.
calls=0
for n in $(seq 0 7 700) $(seq 701 97 6000); do
  FAKECUDA_FAIL_AFTER=$n "$WORK/pooling_golden_host_only" > "$WORK/fail.log" 2>&1
  rc=$?
  calls=$((calls + 1))
  if [ $rc -ne 1 ] || grep -q 'CRASH\|FAKECUDA' "$WORK/fail.log"; then
    echo "host_path_check: FAILED: CUDA errors from call $n on: exit $rc"
    tail -15 "$WORK/fail.log"
    failed=1
    break
  fi
done
[ $failed = 0 ] && echo "host_path_check: sticky CUDA errors injected at $calls points: each surfaced as an error, no crash"
echo "host_path_check: $([ $failed = 0 ] && echo '1 passed, 0 failed' || echo '0 passed, 1 failed')"
exit $failed
