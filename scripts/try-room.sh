#!/usr/bin/env bash
# Opens a room on the local stack (scripts/run-local.sh) with the real Jitsi client
# (lib-jitsi-meet in headless Chromium) and prints what the user would get.
# The demo reservation API refuses rooms named blocked*; every other room is granted.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
room="${1:?usage: scripts/try-room.sh ROOM-NAME (lower case)}"
service="${SERVICE:-http://127.0.0.1:15280/http-bind}"
if [[ "$room" == blocked* ]]; then
    exec node "$root/tests/e2e/driver.js" --service "$service" --room "$room" --expect failed \
        --expect-error conference.reservationError
fi
exec node "$root/tests/e2e/driver.js" --service "$service" --room "$room" --expect joined --leave
