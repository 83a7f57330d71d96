# Shared by scripts/setup, scripts/start and scripts/test: environment and small helpers.
export COREPACK_INTEGRITY_KEYS=0 npm_config_nodedir="${npm_config_nodedir:-/usr}" CHECKPOINT_DISABLE=1 \
  PRISMA_HIDE_UPDATE_MESSAGE=1 NO_COLOR=1 FORCE_COLOR=0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/bin:$PATH"

if [ -t 2 ]; then log() { printf '\033[0;36m[pagoda]\033[0m %s\n' "$*" >&2; }; else log() { printf '[pagoda] %s\n' "$*" >&2; }; fi
# Runs a command with its output held back, and shows that output only when the command fails.
quiet() {
  local out status=0
  out="$(mktemp)"
  "$@" >"$out" 2>&1 || status=$?
  [ "$status" -eq 0 ] || cat "$out" >&2
  rm -f "$out"
  return "$status"
}
die() { printf '[pagoda] error: %s\n' "$*" >&2; exit 1; }

apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $*; install them yourself"
  if [ -z "${PAGODA_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && export PAGODA_APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
