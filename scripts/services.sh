# Sourced by scripts/test: makes sure a PostgreSQL and a Redis answer for the test suites, starting
# (or installing) them when nothing does. Exports PAGODA_TEST_PG_URL and PAGODA_TEST_REDIS_URL.
ensure_redis() {
  local port="${PAGODA_TEST_REDIS_PORT:-6379}"
  if ! port_open 127.0.0.1 "$port"; then
    command -v redis-server >/dev/null || apt_install redis-server
    log "starting redis-server on 127.0.0.1:$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no >/dev/null
    for _ in $(seq 50); do port_open 127.0.0.1 "$port" && break; sleep 0.1; done
  fi
  export PAGODA_TEST_REDIS_URL="${PAGODA_TEST_REDIS_URL:-redis://127.0.0.1:$port}"
}

ensure_postgres() {
  if ! port_open 127.0.0.1 5432; then
    ls /etc/postgresql/*/main >/dev/null 2>&1 || apt_install postgresql
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    # Tests connect over TCP as postgres without a password: trust loopback.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    log "starting postgresql $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 100); do port_open 127.0.0.1 5432 && break; sleep 0.1; done
  fi
  export PAGODA_TEST_PG_URL="${PAGODA_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
}
