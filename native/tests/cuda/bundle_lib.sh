# Shared steps of native/tests/cuda/*_bundle_for_device.sh, which fill the folder one device call carries.
# Sourced, not executed; each bundle script keeps its own part (what it copies) readable top to bottom.
#
# The order a script calls them in:
#   bundle_begin NAME DEFAULT_DEST "$@"    BUILD=$1 (native/build-cuda), DEST=$2 (DEFAULT_DEST), SHARED
#   (or bundle_begin_src NAME DEFAULT_DEST "$@" for a script that carries sources: DEST=$1, no BUILD)
#   bundle_need PATH [WHY]                 stop unless PATH exists (the scripts run from the repository root)
#   bundle_build [TARGET...]               cmake --build BUILD -j2 (the named targets, or all)
#   bundle_fresh [SUBDIR...]               an empty DEST with these folders
#   bundle_bins [--no-strip] BIN...        BUILD/BIN into DEST/bin/, stripped
#   (or bundle_sources                     native/ and bench/configs/ for a device that builds)
#   ... the script's own copies ...
#   bundle_gzip_bins                       bin/ into bin.tar.gz (a call carries 64 MiB with the working tree)
#   bundle_end [--max-mb N] [DEVICE_CMD]   COMMIT, du -sh, the size cap, the carry line

# Run as a script it would define functions and do nothing: say so.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "bundle_lib.sh is sourced by the *_bundle_for_device.sh scripts, not run" >&2
  exit 1
fi

# bundle_begin NAME DEFAULT_DEST [BUILD [DEST]]: the arguments every binary bundle takes.
bundle_begin() {
  BUNDLE_NAME=$1
  BUILD=${3:-native/build-cuda}
  DEST=${4:-$2}
  SHARED=../shared
}

# bundle_begin_src NAME DEFAULT_DEST [DEST]: for the bundles that carry native/ sources and build on the device.
bundle_begin_src() {
  BUNDLE_NAME=$1
  DEST=${3:-$2}
  SHARED=../shared
}

bundle_die() {
  echo "$BUNDLE_NAME: $*" >&2
  exit 1
}

# bundle_need PATH [WHY]: PATH is relative to the repository root (../shared sits beside it).
bundle_need() {
  [ -e "$1" ] || bundle_die "run from the repository root${2:+ ($2)}"
}

# bundle_configure: (re)configure BUILD with its cached options, for the scripts that may meet a fresh one.
bundle_configure() {
  cmake -S native -B "$BUILD" -G Ninja >/dev/null
}

# bundle_build [TARGET...]: -j2, the machine is shared (common.md); no target builds them all.
bundle_build() {
  if [ $# -gt 0 ]; then
    cmake --build "$BUILD" -j2 --target "$@"
  else
    cmake --build "$BUILD" -j2
  fi
}

# bundle_fresh [SUBDIR...]: files copied from the read-only ../shared keep their modes, so a previous
# bundle's folders may not be writable: make them so before removing it.
bundle_fresh() {
  if [ -d "$DEST" ]; then chmod -R u+w "$DEST"; fi
  rm -rf "$DEST"
  mkdir -p "$DEST"
  local d
  for d in "$@"; do mkdir -p "$DEST/$d"; done
}

# bundle_checkpoints WAVE2... -- TINY...: the wave2 tiny-llama-<format> checkpoints with their goldens (and the
# fp8 ones' .w8a8 goldens), then the bf16 tiny checkpoints of ../shared/models with theirs, under DEST/shared
# (bundle_fresh made shared/models/wave2, shared/fixtures/wave2/golden and shared/fixtures/golden).
bundle_checkpoints() {
  local g
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    g=$1
    shift
    cp -r "$SHARED/models/wave2/tiny-llama-$g" "$DEST/shared/models/wave2/"
    cp "$SHARED/fixtures/wave2/golden/tiny-llama-$g.golden.json" "$DEST/shared/fixtures/wave2/golden/"
    if [ -f "$SHARED/fixtures/wave2/golden/tiny-llama-$g.w8a8.golden.json" ]; then
      cp "$SHARED/fixtures/wave2/golden/tiny-llama-$g.w8a8.golden.json" "$DEST/shared/fixtures/wave2/golden/"
    fi
  done
  [ $# -gt 0 ] && shift
  for g in "$@"; do
    cp -r "$SHARED/models/$g" "$DEST/shared/models/"
    cp "$SHARED/fixtures/golden/$g.golden.json" "$DEST/shared/fixtures/golden/"
  done
}

# bundle_bins [--no-strip] BIN...: a missing one stops the bundle (a device call without it is wasted).
bundle_bins() {
  local strip=1 b
  if [ "${1:-}" = --no-strip ]; then strip=0; shift; fi
  mkdir -p "$DEST/bin"
  for b in "$@"; do
    [ -e "$BUILD/$b" ] || bundle_die "$BUILD/$b missing (not built? a CUDA build needs nvcc on PATH)"
    cp "$BUILD/$b" "$DEST/bin/"
    if [ "$strip" = 1 ]; then strip --strip-unneeded "$DEST/bin/$b"; fi
  done
}

# bundle_sources: this tree's native/ (no build folders) and bench/configs/, for a device that builds.
bundle_sources() {
  mkdir -p "$DEST/native" "$DEST/bench"
  tar cf - --exclude='build*' -C native . | tar xf - -C "$DEST/native"
  cp -r bench/configs "$DEST/bench/"
}

# bundle_gzip_bins: the device script unpacks bin.tar.gz (binaries shrink to about a third).
bundle_gzip_bins() {
  tar cf - -C "$DEST" bin | gzip -9 > "$DEST/bin.tar.gz" # -9: ~1 MB under the default, where the cap is close
  rm -rf "$DEST/bin"
}

# bundle_end [--max-mb N] [DEVICE_CMD]: COMMIT names the tree the bundle came from; DEVICE_CMD, when
# given, is printed as what the device call runs.
bundle_end() {
  local max=
  if [ "${1:-}" = --max-mb ]; then max=$2; shift 2; fi
  git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
  du -sh "$DEST"
  if [ -n "$max" ] && [ "$(du -sm "$DEST" | cut -f1)" -ge "$max" ]; then
    bundle_die "bundle over $max MB"
  fi
  if [ $# -gt 0 ]; then echo "carry $DEST; on the device: $1"; fi
}
