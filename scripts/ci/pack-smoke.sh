#!/usr/bin/env bash
# The install path a user takes, end to end, on the Node.js first on PATH: `npm pack` (which builds
# dist/), `npm install -g` of the tarball into a temporary prefix, then the installed `edgespool`:
# --help, `check` on every file in config/, a run of SMOKE_SECONDS (default 30) in which readings
# published with mosquitto_pub land in a file sink and SIGTERM exits 0, and `systemd-analyze
# verify` of the unit pointed at the installed binary. Needs a checkout with `npm ci` done, and
# mosquitto_pub; leaves nothing behind. Usage: scripts/ci/pack-smoke.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${SMOKE_SECONDS:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/edgespool-pack.XXXXXX")
agent_pid=
cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then kill -KILL "$agent_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "pack-smoke: FAIL: $*" >&2
  exit 1
}
say() { echo "pack-smoke: $*"; }
say "node $(node --version), npm $(npm --version)"

# 1. The package: built at pack time (prepare), with the CLI, config examples and the unit, no tests.
(cd "$repo" && npm pack --pack-destination "$work" >"$work/pack.log" 2>&1) || {
  cat "$work/pack.log"
  fail "npm pack"
}
tgz=$(ls "$work"/edgespool-*.tgz)
tar -tzf "$tgz" >"$work/contents"
for f in package/dist/agent/cli/main.js package/dist/simulator/cli.js package/config/default.json \
  package/scripts/systemd/edgespool.service package/scripts/systemd/install.sh package/README.md; do
  grep -qx "$f" "$work/contents" || fail "$f missing from $(basename "$tgz")"
done
grep -qx package/npm-shrinkwrap.json "$work/contents" ||
  fail "no npm-shrinkwrap.json in the package: a global install would not get the tested dependency versions"
for f in "$repo"/config/*; do
  grep -qx "package/config/$(basename "$f")" "$work/contents" || fail "config/$(basename "$f") missing from the package"
done
# The status page's plain files (agent/telemetry/page/) are the only sources the package needs.
if grep -E '^package/(test|dist/test|dist/scripts/bench|agent|simulator)/|\.map$' "$work/contents" |
  grep -v '^package/agent/telemetry/page/'; then
  fail "tests, bench, TypeScript sources or source maps in the package (above)"
fi
say "$(basename "$tgz"): $(wc -l <"$work/contents") files, $(du -k "$tgz" | cut -f1) KiB"

# 2. Install it the way the README says, into a prefix of its own, from outside the checkout.
mkdir "$work/home"
(cd "$work/home" && npm install -g --prefix "$work/prefix" --no-fund --no-audit "$tgz" >"$work/install.log" 2>&1) || {
  cat "$work/install.log"
  fail "npm install -g $(basename "$tgz")"
}
export PATH="$work/prefix/bin:$PATH"
[ "$(command -v edgespool)" = "$work/prefix/bin/edgespool" ] || fail "edgespool is not on PATH after the install"
cd "$work/home"
edgespool --help >"$work/help.txt" || fail "edgespool --help"
for cmd in run check status sim consume; do
  grep -q "^  $cmd" "$work/help.txt" || fail "edgespool --help does not list $cmd"
done
say "installed: $(edgespool --version) at $(command -v edgespool)"
# The install got the versions CI tested (package-lock.json, shipped as npm-shrinkwrap.json).
for dep in @aws-sdk/client-kinesis better-sqlite3 aedes; do
  want=$(node -p "require('$repo/package-lock.json').packages['node_modules/$dep'].version")
  got=$(node -p "require('$work/prefix/lib/node_modules/edgespool/node_modules/$dep/package.json').version")
  [ "$got" = "$want" ] || fail "$dep $got installed, the lock file tested $want"
done
[ ! -e "$work/prefix/lib/node_modules/edgespool/node_modules/vitest" ] || fail "dev dependencies installed"

# 3. Every example config is valid for the installed package. A `${NAME}` without a default (a
# secret the example leaves to the environment on purpose) gets a placeholder value.
for f in "$repo"/config/*; do
  secrets=()
  for name in $(grep -o '\${[A-Za-z0-9_]*}' "$f" | tr -d '${}' | sort -u); do
    secrets+=("$name=ci-placeholder-0123456789abcdef")
  done
  env "${secrets[@]}" edgespool check --config "$f" || fail "edgespool check --config config/$(basename "$f")"
done

# 4. A run: embedded broker and metrics on free loopback ports, a file sink, readings in, SIGTERM out.
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
mport=$(free_port)
hport=$(free_port)
cat >"$work/smoke.yaml" <<EOF
# written by scripts/ci/pack-smoke.sh
agentId: ci-smoke
dataDir: $work/data
sources:
  - type: mqtt-broker
    id: local-mqtt
    host: 127.0.0.1
    port: $mport
    topicTemplate: "sensors/{room}/{sensor}/temperature"
sinks:
  - type: file
    id: files
    dir: $work/data/out
http:
  host: 127.0.0.1
  port: $hport
EOF
edgespool check --config "$work/smoke.yaml"
edgespool run --config "$work/smoke.yaml" 2>"$work/run.log" &
agent_pid=$!
started=$SECONDS
until curl -fsS "http://127.0.0.1:$hport/healthz" >/dev/null 2>&1; do
  kill -0 "$agent_pid" 2>/dev/null || {
    cat "$work/run.log"
    fail "edgespool run exited at start"
  }
  [ $((SECONDS - started)) -lt 30 ] || fail "no /healthz within 30 s"
  sleep 0.2
done
sent=0
while [ $((SECONDS - started)) -lt "$seconds" ]; do
  sent=$((sent + 1))
  mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t "sensors/room$((sent % 3))/t1/temperature" \
    -m "{\"temperature\": 21.$((sent % 10)), \"seq\": $sent}" || fail "mosquitto_pub (reading $sent)"
  sleep 1
done
curl -fsS "http://127.0.0.1:$hport/metrics" | grep -q '^edgespool_' || fail "/metrics has no edgespool_ series"
# The status page is plain files the package must carry next to dist/.
if grep -qx package/agent/telemetry/page/index.html "$work/contents"; then
  curl -fsS "http://127.0.0.1:$hport/" | grep -qi '<html' || fail "GET / (the status page) from the installed package"
  curl -fsS "http://127.0.0.1:$hport/api/status" | grep -q 'room' || fail "GET /api/status does not show the readings"
  say "status page and /api/status served by the installed package"
fi
kill -TERM "$agent_pid"
code=0
wait "$agent_pid" || code=$?
agent_pid=
[ "$code" -eq 0 ] || {
  cat "$work/run.log"
  fail "edgespool run exited $code after SIGTERM"
}
got=$(cat "$work"/data/out/*.ndjson 2>/dev/null | grep -c '"sensor":"room' || true)
[ "$got" -eq "$sent" ] || fail "published $sent readings, the file sink holds $got"
say "run: $sent readings published in $((SECONDS - started)) s, $got in the file sink, SIGTERM exit 0"

# 5. The systemd unit, with ExecStart pointing at this install (the real path is /opt/edgespool).
if command -v systemd-analyze >/dev/null 2>&1; then
  mkdir "$work/unit"
  sed "s#/opt/edgespool/bin/edgespool#$work/prefix/bin/edgespool#g" "$repo/scripts/systemd/edgespool.service" \
    >"$work/unit/edgespool.service"
  # verify exits 0 on warnings such as an unknown key; any output at all fails the check.
  out=$(systemd-analyze verify "$work/unit/edgespool.service" 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
  say "systemd-analyze verify: unit clean"
else
  fail "systemd-analyze not found (apt-get install systemd)"
fi
say "OK"
