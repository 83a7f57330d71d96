#!/bin/bash
# SASS of a CUDA source on this machine, which has nvcc 13 but no cuobjdump / nvdisasm: nvcc -cubin (sm_90a), then
# cuobjdump from Debian's nvidia-cuda-toolkit (11.8, non-free; fetched once into .dev-tools/, nothing installed) on a
# copy of the cubin whose ELF header is rewritten to the older ABI it reads (the SASS encoding of sm_90 is the same).
# Usage: sass_here.sh SOURCE.cu OUT.sass  (ptxas -v goes to OUT.sass.ptxas); then sass_loops.py OUT.sass PATTERN.
set -euo pipefail
src=$1 out=$2
root=$(cd "$(dirname "$0")/../../.." && pwd)
tools=$root/.dev-tools/cuda-11.8
if [ ! -x "$tools/usr/bin/cuobjdump" ]; then
  list=/etc/apt/sources.list.d/pagoda-nonfree.sources
  if ! apt-cache policy nvidia-cuda-toolkit 2>/dev/null | grep -q "Candidate: [0-9]"; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$list"
    apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- >/dev/null
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq nvidia-cuda-toolkit 2>/dev/null)
  mkdir -p "$tools" && dpkg -x "$tmp"/nvidia-cuda-toolkit_*.deb "$tools" && rm -rf "$tmp"
fi
cubin=$(mktemp --suffix=.cubin)
trap 'rm -f "$cubin" "$cubin.old"' EXIT
PATH=/usr/local/cuda/bin:$PATH nvcc -cubin -O3 -std=c++17 -arch=sm_90a -DPAGODA_HAVE_CUDA=1 -DNDEBUG \
  -I "$root/native/src" -I "$root/native/include" -Xptxas -v -o "$cubin" "$src" 2> "$out.ptxas"
python3 - "$cubin" "$cubin.old" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
b[7], b[8] = 0x33, 7                      # OS/ABI and ABI version as CUDA 11.8 writes them
struct.pack_into("<I", b, 0x30, 0x5A055A) # e_flags: sm_90, virtual sm_90, in the old layout
open(sys.argv[2], "wb").write(b)
PY
"$tools/usr/bin/cuobjdump" -sass "$cubin.old" > "$out"
echo "$out: $(grep -c 'Function :' "$out") functions"
