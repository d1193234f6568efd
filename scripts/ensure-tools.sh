#!/usr/bin/env bash
# Installs what `make` needs beyond Python and Java, using only the package registries:
# uv from PyPI, and Debian packages (kcat, prometheus for promtool, wrk for benchmarks; PostgreSQL is handled by kervan_devstack itself).
# Prints the path of the uv binary on its last line.
set -euo pipefail

log() { printf 'ensure-tools: %s\n' "$*" >&2; }

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  for candidate in "$HOME/.local/bin/uv" "$(python3 -m site --user-base 2>/dev/null)/bin/uv"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

if ! uv_bin=$(find_uv); then
  log "uv not found; installing it from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check --user uv >&2 \
    || python3 -m pip install --quiet --disable-pip-version-check uv >&2
  uv_bin=$(find_uv) || { log "uv could not be installed (pip install uv failed)"; exit 1; }
fi

if ! command -v java >/dev/null 2>&1; then
  log "Java 17+ is required for the local Kafka broker (install a JDK, e.g. Debian's openjdk-17-jre-headless)"
  exit 1
fi

want_debs=()
command -v kcat >/dev/null 2>&1 || want_debs+=(kcat)
# promtool (rule, metric and dashboard checks in tests/deploy) ships in Debian's prometheus.
command -v promtool >/dev/null 2>&1 || want_debs+=(prometheus)
# wrk drives the HTTP benchmarks (make bench) from a second process.
command -v wrk >/dev/null 2>&1 || want_debs+=(wrk)
if [ ${#want_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && [ "${KERVAN_DEVSTACK_APT:-1}" != "0" ]; then
    log "installing Debian packages: ${want_debs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${want_debs[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq "${want_debs[@]}" >/dev/null; }
  else
    log "missing ${want_debs[*]}: install them with your package manager (Debian: apt-get install ${want_debs[*]})"
    exit 1
  fi
fi

echo "$uv_bin"
