#!/usr/bin/env bash
# Runs every package's test suite in two lanes at once; the packages must be built (`pnpm run ci` builds
# first). Each lane runs its packages one after another, in the order listed; no suite shares a port, a file
# or a database schema with another (free ports, temp dirs, a fresh schema or table prefix per store), so two
# can run side by side.
#
# Why two lanes: one after another the suites took 24.2 min on 2026-12-07 with the test processes using 0.9 of
# the two cores (user + sys 21.6 min; the database servers' share comes on top); much of their time is spent
# waiting on databases, servers and child processes. The lanes are balanced by each suite's serial duration
# that day, in seconds (in brackets below), and by how they ran side by side: PostgreSQL's suite took 2.1 × its
# serial time beside the reliability suite, most others 1.0–1.3 ×; 16 min in all instead of 24.
#
# Exit status: non-zero when any suite failed; every suite runs, whatever an earlier one did.
set -uo pipefail
cd "$(dirname "$0")/.."

# [406] [205] [146]
LANE_1=(reliability mysql consumer-smoke)
# [218] [144] [68] [55] [66] [32] [32] [26] [11]
LANE_2=(postgres core demo-api lancedb chroma worker bench sqlite config)

# Every package with a test script is in exactly one lane: a new package cannot be left out unnoticed.
expected=$(pnpm -r --silent exec node -e \
  'const p=require("./package.json"); if (p.scripts && p.scripts.test) console.log(p.name)' | sort)
listed=$(printf '@dualwrite/%s\n' "${LANE_1[@]}" "${LANE_2[@]}" | sort)
if [ "$expected" != "$listed" ]; then
  echo "[test-suites] the lanes do not list each package with a test script exactly once:" >&2
  diff <(echo "$expected") <(echo "$listed") >&2
  exit 1
fi

run_lane() {
  local lane=$1 failed=()
  shift
  for pkg in "$@"; do
    local started=$SECONDS
    # --only: the builds ran before; two turbo runs must not restore the same build outputs at once.
    if ! pnpm exec turbo run test --only --filter="@dualwrite/$pkg"; then failed+=("$pkg"); fi
    echo "[test-suites] lane $lane: $pkg took $((SECONDS - started)) s"
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "[test-suites] lane $lane: FAILED: ${failed[*]}"
    return 1
  fi
}

run_lane 1 "${LANE_1[@]}" &
lane1=$!
run_lane 2 "${LANE_2[@]}" &
lane2=$!
status=0
wait "$lane1" || status=1
wait "$lane2" || status=1
echo "[test-suites] both lanes done in ${SECONDS} s: $([ "$status" -eq 0 ] && echo passed || echo FAILED)"
exit "$status"
