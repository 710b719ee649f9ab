#!/usr/bin/env bash
# Debian packages the test suite drives for real: Dovecot (IMAP), Prometheus + Alertmanager
# (promtool, amtool), Chromium (browser tests). Installs only what is missing; needs root.
set -euo pipefail
need=()
command -v dovecot >/dev/null || need+=(dovecot-imapd)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v chromium >/dev/null || need+=(chromium)
command -v docker-compose >/dev/null || need+=(docker-compose)
if ((${#need[@]} == 0)); then exit 0; fi
if [[ $(id -u) != 0 ]]; then
  echo "install-system-deps: missing ${need[*]}; run as root or install them (tests needing them will skip)" >&2
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
