#!/usr/bin/env bash
# Installs (or upgrades) edgespool as a systemd service on Raspberry Pi OS / Debian from the package
# `npm pack` makes:
#
#   sudo scripts/systemd/install.sh edgespool-0.1.0.tgz
#
# (without an argument: the one edgespool-*.tgz in the current folder). It installs the package
# with `npm install -g --prefix /opt/edgespool`, links /usr/local/bin/edgespool, creates the
# system user edgespool, writes /etc/edgespool/config.json only when no config is there (a
# reinstall keeps yours, and the spool in /var/lib/edgespool), checks the config, and enables and
# (re)starts the unit. Node.js 20, 22 or 24 must be installed system-wide; 24 LTS is recommended.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${EDGESPOOL_PREFIX:-/opt/edgespool}
die() {
  echo "install.sh: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $*)"
tgz=${1:-}
if [ -z "$tgz" ]; then
  shopt -s nullglob
  found=(edgespool-*.tgz)
  [ ${#found[@]} -eq 1 ] || die "give the package to install: $0 edgespool-<version>.tgz (make it with 'npm ci && npm pack' in a checkout)"
  tgz=${found[0]}
fi
[ -f "$tgz" ] || die "$tgz: no such file"
tgz=$(cd "$(dirname "$tgz")" && pwd)/$(basename "$tgz")

node=$(command -v node) || die "Node.js is not installed; install Node.js 24 LTS (or 22, 20) system-wide"
node=$(readlink -f "$node")
major=$("$node" -p 'process.versions.node.split(".")[0]')
case "$major" in
  20) echo "note: Node.js 20 is past end of life (April 2026); edgespool runs on it, but Node.js 24 LTS is recommended" ;;
  22 | 24) ;;
  *) die "Node.js $("$node" --version) found; edgespool supports Node.js 20, 22 and 24 (24 LTS recommended)" ;;
esac
case "$node" in
  /home/* | /root/*) die "node is at $node, in a home folder the service cannot read (ProtectHome=true); install Node.js system-wide (e.g. under /usr or /usr/local)" ;;
esac

getent group gpio >/dev/null || groupadd --system gpio
id edgespool >/dev/null 2>&1 ||
  useradd --system --home-dir /var/lib/edgespool --no-create-home --shell /usr/sbin/nologin --groups dialout,gpio edgespool
install -d -m 0755 /etc/edgespool
install -d -m 0700 -o edgespool -g edgespool /var/lib/edgespool

# Before this script used npm, /opt/edgespool held a copy of the checkout; the package replaces it.
if [ -f "$prefix/package.json" ]; then rm -rf "$prefix"; fi
npm install -g --prefix "$prefix" --no-fund --no-audit "$tgz"
ln -sf "$prefix/bin/edgespool" /usr/local/bin/edgespool
pkg="$prefix/lib/node_modules/edgespool"

if [ ! -f /etc/edgespool/config.json ] && [ ! -f /etc/edgespool/config.yaml ]; then
  sed -e 's#"dataDir": "./data"#"dataDir": "/var/lib/edgespool"#' -e 's#"./data/out"#"/var/lib/edgespool/out"#' \
    "$pkg/config/default.json" >/etc/edgespool/config.json
  chown root:edgespool /etc/edgespool/config.json
  chmod 0640 /etc/edgespool/config.json
  echo "wrote /etc/edgespool/config.json; edit it, then: systemctl reload edgespool"
fi
config=/etc/edgespool/config.json
[ -f "$config" ] || config=/etc/edgespool/config.yaml
if [ "$config" = /etc/edgespool/config.yaml ] && ! grep -qs '^EDGESPOOL_CONFIG=' /etc/edgespool/env; then
  echo "EDGESPOOL_CONFIG=$config" >>/etc/edgespool/env
fi
"$prefix/bin/edgespool" check --config "$config"

install -m 0644 "$here/edgespool.service" /etc/systemd/system/edgespool.service
# systemd finds node through its default PATH; a node elsewhere (e.g. /opt/node/bin) gets a drop-in.
nodedir=$(dirname "$node")
case ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" in
  *":$nodedir:"*) rm -f /etc/systemd/system/edgespool.service.d/node-path.conf ;;
  *)
    install -d /etc/systemd/system/edgespool.service.d
    printf '[Service]\nEnvironment=PATH=%s:/usr/local/bin:/usr/bin:/bin\n' "$nodedir" \
      >/etc/systemd/system/edgespool.service.d/node-path.conf
    ;;
esac

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable edgespool
  systemctl restart edgespool
  systemctl --no-pager status edgespool || true
else
  echo "systemd is not running here: the unit is installed; start it with 'systemctl enable --now edgespool' on a systemd host"
fi
cat <<EOF
edgespool $("$prefix/bin/edgespool" --version) installed in $pkg
  config:  $config (kept on reinstall)   spool: /var/lib/edgespool
  logs:    journalctl -u edgespool -f
  reload:  systemctl reload edgespool    (after editing the config)
  status:  sudo -u edgespool edgespool status --config $config
EOF
