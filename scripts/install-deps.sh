#!/usr/bin/env bash
# Installs what jitsi-focus's tests and local stack need on Debian 12, only where missing:
# Prosody 0.12 and Chromium from Debian, the browser-test npm packages (no browser download),
# and cargo-fuzz on the nightly toolchain for scripts/fuzz.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

missing=()
command -v prosody >/dev/null || missing+=(prosody lua-bitop lua-event lua-sec lua-expat lua-socket lua-filesystem lua-unbound)
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Never 'prosody --version': Prosody 0.12 ignores the flag and starts the system instance.
echo "prosody $(dpkg-query -W -f='${Version}' prosody), $(chromium --version 2>/dev/null), node $(node --version)"

e2e="$root/tests/e2e"
if [ ! -d "$e2e/node_modules/lib-jitsi-meet-dist" ] || [ ! -d "$e2e/node_modules/playwright-core" ]; then
    (cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# Fuzzing (scripts/fuzz.sh): cargo-fuzz needs the nightly toolchain.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
