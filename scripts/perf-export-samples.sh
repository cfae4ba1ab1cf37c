#!/bin/sh
# Regenerates the perf output quoted in docs/perf-data.md and docs/cli/export.md ("vpmu export
# --format perf-data"): records built-in scenarios, exports them, and runs the real perf on the
# files. Usage: scripts/perf-export-samples.sh [WORKDIR]   (after npm run build; needs linux-perf)
set -eu
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
vpmu="node dist/apps/cli/main.js"
export LC_ALL=C PAGER=cat
for s in passthrough-rfc-experiment quickstart; do
  rm -rf "$work/$s" "$work/$s-perf"
  $vpmu run "scenarios/$s.yaml" --out "$work/$s" >/dev/null 2>&1
  $vpmu export "$work/$s" --format perf-data --out "$work/$s-perf" | sed "s#$work/##g"
done
cp "$work/passthrough-rfc-experiment-perf/guest/perf-4200000.map" /tmp/perf-4200000.map
f="$work/passthrough-rfc-experiment-perf/guest/basic-sampling.perf.data"
echo '--- perf report --stdio --sort comm,sym -i basic-sampling.perf.data (first 30 lines)'
perf report --stdio --sort comm,sym -i "$f" 2>&1 | head -30
echo '--- perf report --stdio --sort sym (first event)'
perf report --stdio --sort sym -i "$f" 2>&1 | sed -n '/^# Samples/,/^$/p' | head -24
echo '--- perf script -F comm,pid,tid,cpu,time,period,event,ip,sym,dso (first 6 lines)'
perf script -i "$f" --ns -F comm,pid,tid,cpu,time,period,event,ip,sym,dso 2>&1 | head -6
echo '--- perf report --header-only (without the captured-on line)'
perf report --header-only -i "$f" 2>&1 | grep -v 'captured on' | head -16
echo '--- quickstart vm-passthrough/stat.perf-stat.txt, .csv'
cat "$work/quickstart-perf/vm-passthrough/stat.perf-stat.txt" "$work/quickstart-perf/vm-passthrough/stat.perf-stat.csv"
