#!/usr/bin/env bash
# Run every gpu.js spike script in sequence (all modes) and print the results.
# Usage: kernels/gpujs/spike/run_all.sh [> log]    (needs scripts/install_lavapipe.sh for webgpu)
set -u
cd "$(dirname "$0")/../../.."
echo "# $(date -u +%FT%TZ) node $(node --version) nproc $(nproc) load: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in adapter elementwise broadcast reduce matmul pipeline resident_ops memory dtypes mathfns ops_misc limits sync_overhead interop raw_matmul ci_timing; do
  echo "## $s"
  timeout -s KILL 600 node --expose-gc "kernels/gpujs/spike/$s.mjs" 2>&1 | grep -v 'artificially reduced'
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || echo "!! $s exited rc=$rc"
done
