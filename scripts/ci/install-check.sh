#!/usr/bin/env bash
# Runs scripts/systemd/install.sh for real, as root, on the Node.js first on PATH, but inside a
# private mount namespace where /etc, /opt, /var/lib and /usr/local are overlays that vanish
# afterwards, so the machine is left as it was. Checks: the system user, the package under
# /opt/edgespool with `edgespool` on PATH, the config written once and kept (with the spool) by a
# reinstall, readable by the service user, the unit passing `systemd-analyze verify` where it is
# installed, and an unsupported Node refused. Needs root and a checkout with `npm ci` done.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
fail() {
  echo "install-check: FAIL: $*" >&2
  exit 1
}
say() { echo "install-check: $*"; }

if [ "${1:-}" != --inside ]; then
  [ "$(id -u)" -eq 0 ] || fail "needs root (it runs the install script in a throwaway mount namespace)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/edgespool-install.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$repo" && npm pack --pack-destination "$work" >"$work/pack.log" 2>&1) || {
    cat "$work/pack.log"
    fail "npm pack"
  }
  unshare --mount --propagation private "$0" --inside "$work"
  exit
fi

work=$2
for d in /etc /opt /var/lib /usr/local; do
  mkdir -p "$work/ov$d/up" "$work/ov$d/wk"
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$work/ov$d/up,workdir=$work/ov$d/wk" "$d" ||
    fail "cannot overlay $d (needs overlayfs)"
done
tgz=$(ls "$work"/edgespool-*.tgz)
install=$repo/scripts/systemd/install.sh
id edgespool >/dev/null 2>&1 && fail "a user edgespool exists already; this check wants a machine without one"

# An unsupported Node is refused before anything is installed.
mkdir "$work/node18"
printf '#!/bin/sh\necho 18\n' >"$work/node18/node"
chmod +x "$work/node18/node"
if out=$(PATH="$work/node18:$PATH" "$install" "$tgz" 2>&1); then fail "installed with Node 18: $out"; fi
grep -q "supports Node.js 20, 22 and 24" <<<"$out" || fail "unclear refusal of Node 18: $out"
[ ! -e /opt/edgespool ] || fail "/opt/edgespool created although Node 18 was refused"

"$install" "$tgz" >"$work/install1.log" 2>&1 || {
  cat "$work/install1.log"
  fail "install.sh"
}
id edgespool >/dev/null || fail "no user edgespool"
[ "$(stat -c '%U %a' /var/lib/edgespool)" = "edgespool 700" ] || fail "/var/lib/edgespool: $(stat -c '%U %a' /var/lib/edgespool)"
[ "$(stat -c '%U:%G %a' /etc/edgespool/config.json)" = "root:edgespool 640" ] || fail "config.json owner/mode"
grep -q '"dataDir": "/var/lib/edgespool"' /etc/edgespool/config.json || fail "config.json dataDir"
[ "$(PATH="/usr/local/bin:$PATH" edgespool --version)" = "$(node -p 'require(process.argv[1]).version' "$repo/package.json")" ] ||
  fail "/usr/local/bin/edgespool"
runuser -u edgespool -- env "PATH=$PATH" /opt/edgespool/bin/edgespool check --config /etc/edgespool/config.json >/dev/null ||
  fail "the service user cannot check its config"
out=$(systemd-analyze verify /etc/systemd/system/edgespool.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
say "installed: user, /opt/edgespool, /usr/local/bin/edgespool, config, unit verified"

# A reinstall keeps the config and the spool.
sed -i 's#"agentId": "edgespool-dev"#"agentId": "kept-by-reinstall"#' /etc/edgespool/config.json
echo spool >/var/lib/edgespool/marker
"$install" "$tgz" >"$work/install2.log" 2>&1 || {
  cat "$work/install2.log"
  fail "install.sh (again)"
}
grep -q kept-by-reinstall /etc/edgespool/config.json || fail "reinstall replaced the config"
[ -f /var/lib/edgespool/marker ] || fail "reinstall touched /var/lib/edgespool"
say "reinstall kept /etc/edgespool/config.json and /var/lib/edgespool"
say "OK"
