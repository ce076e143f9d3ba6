#!/usr/bin/env bash
# Opens a room on the local stack (scripts/run-local.sh) with the real Jitsi client
# (lib-jitsi-meet in headless Chromium) and prints what the user would get.
#
#   scripts/try-room.sh ROOM [joined|refused]
#
# The local stack's reservation server (jitsi-reservations) has a meeting "hello" open now; every
# other room is refused with the server's text, shown as conference.reservationError 403:
# "blocked-demo" has no meeting ("Room «blocked-demo» has no meeting booked"), "later" starts
# tomorrow ("Meeting «later» starts on … at 14:00 (…)"). Without the second argument, "hello" is
# expected to join and any other room to be refused; give "joined" for a room you booked
# yourself (booking page, management API or `jitsi-reservations meetings add`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage="usage: scripts/try-room.sh ROOM-NAME (lower case) [joined|refused]"
room="${1:?$usage}"
service="${SERVICE:-http://127.0.0.1:15280/http-bind}"
expect="${2:-}"
if [ -z "$expect" ]; then
    if [ "$room" = hello ]; then expect=joined; else expect=refused; fi
fi
case "$expect" in
    refused)
        exec node "$root/tests/e2e/driver.js" --service "$service" --room "$room" --expect failed \
            --expect-error conference.reservationError --expect-code 403 ;;
    joined)
        exec node "$root/tests/e2e/driver.js" --service "$service" --room "$room" --expect joined --leave ;;
    *)
        echo "$usage" >&2
        exit 2 ;;
esac
