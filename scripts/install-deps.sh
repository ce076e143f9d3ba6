#!/usr/bin/env bash
# Installs what jitsi-focus's tests and local stack need on Debian 12, only where missing:
# Prosody 0.12, Chromium and PostgreSQL from Debian, the browser-test npm packages (no browser
# download), and cargo-fuzz on the nightly toolchain for scripts/fuzz.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

missing=()
command -v prosody >/dev/null || missing+=(prosody lua-bitop lua-event lua-sec lua-expat lua-socket lua-filesystem lua-unbound)
command -v chromium >/dev/null || missing+=(chromium)
# The reservation store's tests start their own PostgreSQL servers (tests/support/postgres.rs)
# from the versioned server binaries, which Debian keeps off PATH. (The package also sets up a
# `main` cluster on port 5432; the tests never use it.)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Never 'prosody --version': Prosody 0.12 ignores the flag and starts the system instance.
echo "prosody $(dpkg-query -W -f='${Version}' prosody), $(chromium --version 2>/dev/null), node $(node --version)," \
    "postgresql $(dpkg-query -W -f='${Version}' postgresql)"

e2e="$root/tests/e2e"
if [ ! -d "$e2e/node_modules/lib-jitsi-meet-dist" ] || [ ! -d "$e2e/node_modules/playwright-core" ] \
    || [ ! -d "$e2e/node_modules/jquery-3.6" ]; then
    (cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# The Unified-Plan client for tests/browser_media.rs: @lyno/lib-jitsi-meet 2.6726.2 (a Dec 2021
# lib-jitsi-meet). Its `npm install` fails (GitHub dependencies), so the tarball alone is fetched
# with `npm pack`, checked against its published integrity, and unpacked into tests/e2e/vendor/.
# Its build exports five event tables only as `default` while other modules read them as plain
# objects (so CONFERENCE_FAILED and more never fire): at each `t.default=t.NAME}` the table's
# members are also copied onto the module (`Object.assign(t,t.NAME)`).
lyno_version=2.6726.2
lyno_integrity='sha512-cTrKBgy4ZHD6vyFTOAOx5ylyzjWs3ft6MLhmchu9zRq7uLr8omD4lE2fmSfoyoSqMjFc/3sU9XLYXiJ21hqQuw=='
lyno="$e2e/vendor/lyno-lib-jitsi-meet-$lyno_version"
if [ ! -f "$lyno/PATCHED" ]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "@lyno/lib-jitsi-meet@$lyno_version" >/dev/null)
    tarball="$tmp/lyno-lib-jitsi-meet-$lyno_version.tgz"
    got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    if [ "$got" != "$lyno_integrity" ]; then
        echo "@lyno/lib-jitsi-meet@$lyno_version: integrity $got, expected $lyno_integrity" >&2
        exit 1
    fi
    rm -rf "$lyno" && mkdir -p "$lyno"
    tar -xzf "$tarball" -C "$lyno" --strip-components=1
    rm -rf "$tmp"
    node - "$lyno/lib-jitsi-meet.min.js" <<'JS'
const fs = require('fs');
const file = process.argv[2];
let text = fs.readFileSync(file, 'utf8');
for (const name of [ 'XMPPEvents', 'AuthenticationEvents', 'RTCEvents', 'VideoType', 'Resolutions' ]) {
    const from = `t.default=t.${name}}`;
    const found = text.split(from).length - 1;
    if (found !== 1) {
        console.error(`${file}: "${from}" found ${found} times, expected once; not patched`);
        process.exit(1);
    }
    text = text.replace(from, `t.default=t.${name},Object.assign(t,t.${name})}`);
}
fs.writeFileSync(file, text);
JS
    echo "@lyno/lib-jitsi-meet $lyno_version, patched (5 event tables)" > "$lyno/PATCHED"
fi

# Fuzzing (scripts/fuzz.sh): cargo-fuzz needs the nightly toolchain.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
