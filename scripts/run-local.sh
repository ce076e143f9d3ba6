#!/usr/bin/env bash
# Runs jitsi-focus on a local stack, all on 127.0.0.1: Prosody from Debian with a generated
# config (domain meet.test), the reservation server (jitsi-reservations serve, port 18080, a
# SQLite file and a generated config in target/local-stack/), a test video bridge
# (tests/test-bridge) in the brewery jvbbrewery@internal.meet.test, the demo page server
# (demo/server.js, port 18000, the real Jitsi client over Prosody's BOSH), and jitsi-focus in the
# foreground. Before the focus starts it books, with the jitsi-reservations CLI, a meeting
# "hello" open now (8 hours, early join 10 minutes) and a meeting "later" tomorrow at 14:00 in
# this system's time zone; "blocked-demo" has no meeting, so it is refused ("Room «blocked-demo»
# has no meeting booked"). It prints the reservation server's URL with a management token
# generated for this run, and, once the focus has connected to Prosody,
# "Demo page: http://127.0.0.1:18000/". Ctrl-C stops everything.
#
# In a browser:         http://127.0.0.1:18000/hello in two tabs -> a call between them
#                       http://127.0.0.1:18000/blocked-demo     -> the server's refusal, shown
# In another terminal:  scripts/try-room.sh hello        -> joins (the meeting is on)
#                       scripts/try-room.sh blocked-demo -> refused with the server's message
#                       scripts/try-room.sh later        -> refused: the meeting starts tomorrow
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$root/target/local-stack"
"$root/scripts/install-deps.sh"
# Builds jitsi-focus and jitsi-reservations (both binaries of the jitsi-focus package).
cargo build --release --manifest-path "$root/Cargo.toml" -p jitsi-focus -p jitsi-test-bridge
bin="$(realpath -m "${CARGO_TARGET_DIR:-$root/target}")/release"

for port in 15222 15280 15347 18000 18080 18888 20000; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port 127.0.0.1:$port is in use (another Prosody or local stack?); stop it first" >&2
        exit 1
    fi
done
rm -rf "$run" && mkdir -p "$run/prosody/data" "$run/prosody/certs"
cat > "$run/prosody.cfg.lua" <<LUA
run_as_root = true
daemonize = false
pidfile = "$run/prosody/prosody.pid"
data_path = "$run/prosody/data"
certificates = "$run/prosody/certs"
log = { { levels = { min = "info" }, to = "file", filename = "$run/prosody/prosody.log" } }
interfaces = { "127.0.0.1" }
c2s_ports = { 15222 }
component_ports = { 15347 }
component_interfaces = { "127.0.0.1" }
http_ports = { 15280 }
http_interfaces = { "127.0.0.1" }
https_ports = { }
s2s_ports = { }
http_default_host = "meet.test"
c2s_require_encryption = false
consider_bosh_secure = true
consider_websocket_secure = true
modules_enabled = { "disco"; "saslauth"; "ping"; "bosh"; "websocket"; "posix" }
modules_disabled = { "s2s"; "offline"; "c2s_direct_tls" }
storage = "memory"
gc = { mode = "generational" }
network_default_read_size = 65536
network_settings = { nagle = false }
VirtualHost "meet.test"
    authentication = "anonymous"
Component "conference.meet.test" "muc"
    admins = { "focus.meet.test" }
    restrict_room_creation = true
    muc_room_locking = false
    muc_room_default_public_jids = true
    muc_room_cache_size = 10000
Component "internal.meet.test" "muc"
    admins = { "focus.meet.test" }
    muc_room_locking = false
    muc_room_default_public_jids = true
Component "focus.meet.test"
    component_secret = "local-secret"
LUA
cat > "$run/jitsi-focus.toml" <<TOML
[xmpp]
port = 15347
component = "focus.meet.test"
secret = "local-secret"
muc_domain = "conference.meet.test"
[reservation]
enabled = true
base_url = "http://127.0.0.1:18080"
[state]
directory = "$run/state"
[bridges]
brewery = "jvbbrewery@internal.meet.test"
# A local stack stops at once (a deployment lets running meetings drain first).
[conference]
drain_timeout = "0s"
# The HTTP API, with the debug views a developer wants (a deployment leaves them off).
[http]
bind = "127.0.0.1:18888"
debug = true
TOML

# The reservation server: a management token generated for this run (the booking page and
# /api/v1/ need it), the file readable by us only.
token="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
(umask 077 && cat > "$run/jitsi-reservations.toml" <<TOML
[server]
bind = "127.0.0.1:18080"
[database]
url = "sqlite://$run/reservations.db"
[api]
tokens = ["$token"]
TOML
)
reservations=("$bin/jitsi-reservations" --config "$run/jitsi-reservations.toml")
# Meetings, booked before the focus starts: "hello" open now, "later" tomorrow at 14:00 in this
# system's time zone (the CLI's default zone); none for blocked-demo.
"${reservations[@]}" meetings add --room hello --start "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --duration 8h \
    --early-join 10m >/dev/null
"${reservations[@]}" meetings add --room later --start "$(date -d 'tomorrow 14:00' +%Y-%m-%dT%H:%M:%S%:z)" \
    --duration 1h >/dev/null

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
# Its log (each conference started, refused, ended) goes to this terminal; stdout has the
# "listening" line the start-up check below waits for.
"${reservations[@]}" serve >"$run/reservations.out" & pids+=($!)
reservations_pid=$!
prosody -F --config "$run/prosody.cfg.lua" & pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/15222) 2>/dev/null && break; sleep 0.1; done
"$bin/jitsi-test-bridge" --xmpp 127.0.0.1:15222 --domain meet.test \
    --brewery jvbbrewery@internal.meet.test --nick jvb-1 --udp-port 20000 & pids+=($!)
node "$root/demo/server.js" --port 18000 --service http://127.0.0.1:15280/http-bind \
    >"$run/demo-server.log" & pids+=($!)
demo_pid=$!
echo "Prosody: BOSH http://127.0.0.1:15280/http-bind, WebSocket ws://127.0.0.1:15280/xmpp-websocket"
echo "Try:     scripts/try-room.sh hello   and   scripts/try-room.sh blocked-demo"
echo "Booked:  hello (open now for 8 hours), later (tomorrow 14:00); blocked-demo has none"
"$bin/jitsi-focus" --config "$run/jitsi-focus.toml" run & pids+=($!)
focus_pid=$!

# The stack is up once Prosody has authenticated the focus component and the demo server and
# the reservation server listen: each writes a line saying so, which is polled for (the focus
# reconnects on its own if Prosody was not ready yet).
up=""
for _ in $(seq 300); do
    if grep -q 'focus.meet.test:component.*successfully authenticated' "$run/prosody/prosody.log" 2>/dev/null \
        && grep -q '^listening ' "$run/demo-server.log" 2>/dev/null \
        && grep -q '^listening ' "$run/reservations.out" 2>/dev/null; then
        up=yes
        break
    fi
    kill -0 "$focus_pid" 2>/dev/null && kill -0 "$demo_pid" 2>/dev/null && kill -0 "$reservations_pid" 2>/dev/null \
        || break
    sleep 0.1
done
if [ -n "$up" ]; then
    echo "Reservations: http://127.0.0.1:18080/ (token $token)"
    echo "Focus API: http://127.0.0.1:18888/about/health (and /stats, /metrics, /debug)"
    echo "Demo page: http://127.0.0.1:18000/"
else
    echo "the stack did not come up: see the output above, $run/prosody/prosody.log, $run/demo-server.log and $run/reservations.out" >&2
fi
wait "$focus_pid"
