#!/usr/bin/env bash
# Debian packages the project drives for real. Installs only what is missing; needs root.
#   install-system-deps.sh        the test suite's: Dovecot (IMAP), Prometheus + Alertmanager
#                                 (promtool, amtool), Chromium (browser tests), docker-compose
#   install-system-deps.sh bench  the benchmarks': wrk (the ingest load generator)
set -euo pipefail
need=()
case "${1:-test}" in
  test)
    command -v dovecot >/dev/null || need+=(dovecot-imapd)
    command -v promtool >/dev/null || need+=(prometheus)
    command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || need+=(prometheus-alertmanager)
    command -v chromium >/dev/null || need+=(chromium)
    command -v docker-compose >/dev/null || need+=(docker-compose)
    ;;
  bench)
    command -v wrk >/dev/null || need+=(wrk)
    ;;
  *) echo "install-system-deps: usage: $0 [test|bench]" >&2; exit 2 ;;
esac
if ((${#need[@]} == 0)); then exit 0; fi
if [[ $(id -u) != 0 ]]; then
  echo "install-system-deps: missing ${need[*]}; run as root or install them (what needs them will skip)" >&2
  exit 0
fi
echo "install-system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's packages start their services on install; the tests run their own instances.
for svc in dovecot prometheus prometheus-alertmanager prometheus-node-exporter; do
  (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
done
pkill -x dovecot 2>/dev/null || true
pkill -f '^/usr/bin/prometheus' 2>/dev/null || true
exit 0
