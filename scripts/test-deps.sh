#!/usr/bin/env bash
# Installs what the test suite needs from Debian on a fresh machine: chromium (the HTML report
# is checked in a real headless browser), kcat (its librdkafka mock cluster is the Kafka
# broker of the cluster tests), linux-perf (the perf.data files and perf stat output of
# libs/perf-data are read back by the real perf) and jq (commands the docs show pipe into it:
# test/docs runs them). Idempotent; does nothing when all are present.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "test-deps: installing ${need[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
