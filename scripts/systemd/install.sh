#!/usr/bin/env bash
# Installs edgespool as a systemd service on Raspberry Pi OS / Debian, from a checkout of this
# repository: builds it into /opt/edgespool, creates the edgespool user, a config in
# /etc/edgespool (kept if present) and the spool folder /var/lib/edgespool.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
src=$(cd "$(dirname "$0")/../.." && pwd)
node -e 'process.exit(process.versions.node.split(".")[0] === "20" ? 0 : 1)' || { echo "Node.js 20 is required" >&2; exit 1; }

id edgespool >/dev/null 2>&1 || useradd --system --home /var/lib/edgespool --shell /usr/sbin/nologin edgespool
install -d -m 0755 /opt/edgespool /etc/edgespool
install -d -m 0700 -o edgespool -g edgespool /var/lib/edgespool
cp -a "$src/package.json" "$src/package-lock.json" "$src/tsconfig.json" "$src/.npmrc" "$src/agent" "$src/simulator" "$src/scripts" "$src/config" /opt/edgespool/
(cd /opt/edgespool && npm ci --include=dev && npm prune --omit=dev)
if [ ! -f /etc/edgespool/config.json ]; then
  sed -e 's#"dataDir": "./data"#"dataDir": "/var/lib/edgespool"#' -e 's#"./data/out"#"/var/lib/edgespool/out"#' \
    "$src/config/default.json" > /etc/edgespool/config.json
  echo "wrote /etc/edgespool/config.json — edit it, then: systemctl restart edgespool"
fi
node /opt/edgespool/dist/agent/cli/main.js check --config /etc/edgespool/config.json
install -m 0644 "$src/scripts/systemd/edgespool.service" /etc/systemd/system/edgespool.service
systemctl daemon-reload
systemctl enable --now edgespool
systemctl --no-pager status edgespool || true
echo "logs: journalctl -u edgespool -f    status: sudo -u edgespool node /opt/edgespool/dist/agent/cli/main.js status --config /etc/edgespool/config.json"
