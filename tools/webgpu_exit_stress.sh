#!/usr/bin/env bash
# How often does a webgpu (Dawn 0.6.2 + lavapipe) node process hang or
# abort at exit? Runs a script N times under a timeout and tallies exit codes.
# Usage: tools/webgpu_exit_stress.sh [N] [script] ; env passes through (e.g. SPIKE_EXIT=none)
# rc 124 = hung (killed by timeout), 134 = abort ("The futex facility returned an unexpected error code.")
N="${1:-30}"; SCRIPT="${2:-tools/webgpu_adapter.mjs}"; TO="${TIMEOUT:-30}"
declare -A count
for i in $(seq 1 "$N"); do
  timeout -s KILL "$TO" node "$SCRIPT" >/tmp/exit_stress.$$.log 2>&1
  rc=$?
  [ "$rc" = 137 ] && rc="137(hang,killed)"
  count[$rc]=$(( ${count[$rc]:-0} + 1 ))
  if [ "$rc" != 0 ]; then echo "run $i rc=$rc: $(grep -v 'artificially reduced' /tmp/exit_stress.$$.log | tail -1)"; fi
done
rm -f /tmp/exit_stress.$$.log
echo "script=$SCRIPT N=$N SPIKE_EXIT=${SPIKE_EXIT:-default} results:"; for k in "${!count[@]}"; do echo "  rc=$k x${count[$k]}"; done
