#!/usr/bin/env bash
# `make test`: every workspace member's tests, each in its own pytest process, against one set of
# real servers (Kafka, PostgreSQL, OpenBao) that this script starts on free loopback ports and
# stops at the end. Endpoints already given in KERVAN_TEST_* are used as they are.
#
# One pytest process per member: each service has its own `tests` package (unit/component/
# integration), so they cannot share one interpreter; running them apart also proves that no
# member leans on another's test helpers. Usage: scripts/test.sh [pytest args...]
set -uo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
RUN=("$UV" run --all-packages --locked)
state_dir=".devstack/test-$$"
results=".devstack/test-results"
rm -rf "$results" && mkdir -p "$results"

stop_servers() {
  if [ -d "$state_dir" ]; then
    "${RUN[@]}" python -m kervan_devstack down --state-dir "$state_dir" >/dev/null 2>&1 || true
    rm -rf "$state_dir"
  fi
}

# UNIT_ONLY=1 (make test-unit): no servers, and a member whose tests all need one is fine.
unit_only=${UNIT_ONLY:-0}
if [ "$unit_only" != 1 ] && [ -z "${KERVAN_TEST_KAFKA_BOOTSTRAP:-}" ] \
    && [ -z "${KERVAN_TEST_POSTGRES_DSN:-}" ]; then
  trap stop_servers EXIT INT TERM
  if ! exports=$("${RUN[@]}" python -m kervan_devstack up --ports auto --no-apps \
      --state-dir "$state_dir"); then
    echo "test: could not start Kafka, PostgreSQL and OpenBao (see the error above)" >&2
    exit 1
  fi
  # KERVAN_X=... from devstack becomes KERVAN_TEST_X=... for the testkit plugin.
  eval "$(printf '%s\n' "$exports" | sed -e 's/^export KERVAN_/export KERVAN_TEST_/')"
fi

members=(libs/* services/*)
for extra in tests/deploy tests/e2e; do
  [ -n "$(ls "$extra"/test_*.py 2>/dev/null)" ] && members+=("$extra")
done
failed=()
started=$(date +%s)
for member in "${members[@]}"; do
  [ -d "$member" ] || continue
  echo "=== $member"
  "${RUN[@]}" pytest "$member" --junitxml="$results/$(echo "$member" | tr '/' '_').xml" "$@"
  code=$?
  # 5 = no tests collected: a member without tests is a failure too (not for unit-only runs).
  if [ $code -ne 0 ] && ! { [ "$unit_only" = 1 ] && [ $code -eq 5 ]; }; then
    failed+=("$member (exit $code)")
  fi
done

"${RUN[@]}" python - "$results" "$(( $(date +%s) - started ))" <<'EOF'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for report in sorted(Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"whole suite in {sys.argv[2]} s")
print(f"tests: {passed} passed, {failed} failed, {totals['skipped']} skipped")
EOF

if [ ${#failed[@]} -ne 0 ]; then
  echo "test: failed members: ${failed[*]}" >&2
  exit 1
fi
