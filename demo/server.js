#!/usr/bin/env node
/*
 * The jitsi-focus demo page server: a static web server (Node built-ins only) for a small
 * Jitsi conference page that uses the real lib-jitsi-meet client against a local Prosody and
 * jitsi-focus.
 *
 *   node demo/server.js --port 18000 --service http://127.0.0.1:15280/http-bind \
 *       [--domain meet.test] [--muc conference.meet.test] [--focus focus.meet.test]
 *
 * Once listening it prints one line, "listening http://127.0.0.1:PORT/", on stdout (with
 * --port 0 the kernel picks the port). It binds 127.0.0.1 only and serves:
 *
 *   /                      the landing page (a room-name form; /?room=NAME redirects to /NAME)
 *   /NAME                  the conference page; NAME is 1-64 of [a-z0-9._-]
 *   /config.js             window.DEMO_CONFIG, generated from the command line
 *   /static/FILE           demo/FILE (the page's scripts and styles)
 *   /vendor/jquery.min.js  jQuery 3.6 (tests/e2e/node_modules/jquery-3.6)
 *   /vendor/lib-jitsi-meet.min.js
 *                          @lyno/lib-jitsi-meet 2.6726.2, the Unified-Plan client, as patched
 *                          by scripts/install-deps.sh (tests/e2e/vendor)
 *
 * Everything else is 404; only GET and HEAD are allowed. Pages carry a Content-Security-Policy
 * that allows nothing but this server and the XMPP service, so the page provably loads nothing
 * from elsewhere.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const USAGE = `usage: node demo/server.js --service URL [options]

  --port P          TCP port on 127.0.0.1 (default 18000; 0 = any free port)
  --service URL     Prosody's BOSH (http://127.0.0.1:N/http-bind) or WebSocket
                    (ws://127.0.0.1:N/xmpp-websocket) URL, as the browser reaches it
  --domain D        XMPP domain of anonymous users (default meet.test)
  --muc M           conference MUC domain (default conference.meet.test)
  --focus F         the focus component's domain (default focus.meet.test)
  -h, --help        this text`;

const DEMO_DIR = __dirname;
const E2E_DIR = path.join(__dirname, '..', 'tests', 'e2e');
const LYNO_DIR = path.join(E2E_DIR, 'vendor', 'lyno-lib-jitsi-meet-2.6726.2');

// The libraries the conference page loads, at fixed URLs.
const VENDOR = {
    '/vendor/jquery.min.js': path.join(E2E_DIR, 'node_modules', 'jquery-3.6', 'dist', 'jquery.min.js'),
    '/vendor/lib-jitsi-meet.min.js': path.join(LYNO_DIR, 'lib-jitsi-meet.min.js')
};

// What /static/ may serve from demo/, by extension; the server's own source is not a page asset.
const STATIC_TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png'
};
const NOT_STATIC = new Set([ path.join(DEMO_DIR, 'server.js') ]);

// Room names as jitsi-meet accepts them in a URL, lower case (the client throws on capitals).
const ROOM_RE = /^[a-z0-9._-]{1,64}$/;
// Valid names that browsers and crawlers ask for on their own: not rooms.
const NOT_ROOMS = new Set([ 'favicon.ico', 'robots.txt' ]);

class UsageError extends Error {}

function parseArgs(argv) {
    const o = { port: 18000, service: null, domain: 'meet.test', muc: 'conference.meet.test',
        focus: 'focus.meet.test' };
    const valued = { '--port': 'port', '--service': 'service', '--domain': 'domain', '--muc': 'muc',
        '--focus': 'focus' };
    for (let i = 0; i < argv.length; i++) {
        let a = argv[i];
        let inline = null;
        if (a === '-h' || a === '--help') { o.help = true; continue; }
        const eq = a.indexOf('=');
        if (a.startsWith('--') && eq > 0) { inline = a.slice(eq + 1); a = a.slice(0, eq); }
        if (!valued[a]) { throw new UsageError(`unknown argument: ${argv[i]}`); }
        const v = inline !== null ? inline : argv[++i];
        if (v === undefined) { throw new UsageError(`${a} needs a value`); }
        o[valued[a]] = v;
    }
    if (o.help) { return o; }
    const port = Number(o.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) { throw new UsageError('--port must be 0-65535'); }
    o.port = port;
    if (!o.service) { throw new UsageError('--service is required'); }
    let service;
    try { service = new URL(o.service); } catch (_) { throw new UsageError(`--service is not a URL: ${o.service}`); }
    if (![ 'http:', 'https:', 'ws:', 'wss:' ].includes(service.protocol)) {
        throw new UsageError('--service must be an http(s):// (BOSH) or ws(s):// (WebSocket) URL');
    }
    for (const k of [ 'domain', 'muc', 'focus' ]) {
        if (!/^[a-z0-9.-]+$/i.test(o[k])) { throw new UsageError(`--${k} must be a domain name`); }
    }
    return o;
}

// Refuses to start without the client libraries: the page would only show a load error.
function checkFiles() {
    const hint = 'run scripts/install-deps.sh';
    const missing = [];
    for (const file of Object.values(VENDOR)) {
        if (!fs.existsSync(file)) { missing.push(`${file} is missing`); }
    }
    if (fs.existsSync(LYNO_DIR) && !fs.existsSync(path.join(LYNO_DIR, 'PATCHED'))) {
        // Unpatched, this build never fires CONFERENCE_FAILED (see scripts/install-deps.sh).
        missing.push(`${LYNO_DIR} is not patched`);
    }
    for (const name of [ 'index.html', 'landing.html', 'demo.js', 'demo.css', 'jquery-global.js' ]) {
        if (!fs.existsSync(path.join(DEMO_DIR, name))) { missing.push(`${path.join(DEMO_DIR, name)} is missing`); }
    }
    if (missing.length) { throw new Error(`${missing.join('; ')}: ${hint}`); }
}

// The service's origin in both schemes: lib-jitsi-meet talks to it over BOSH (http) or
// WebSocket (ws), and sends its unload beacon over http.
function serviceOrigins(serviceUrl) {
    const u = new URL(serviceUrl);
    const secure = u.protocol === 'https:' || u.protocol === 'wss:';
    return [ `${secure ? 'https' : 'http'}://${u.host}`, `${secure ? 'wss' : 'ws'}://${u.host}` ];
}

function contentSecurityPolicy(o) {
    return [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        // Local and remote tracks are attached as srcObject (MediaStream).
        "media-src 'self' blob: mediastream:",
        `connect-src 'self' ${serviceOrigins(o.service).join(' ')}`,
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'"
    ].join('; ');
}

function configScript(o) {
    const config = { serviceUrl: o.service, hosts: { domain: o.domain, muc: o.muc, focus: o.focus } };
    return `// Generated by demo/server.js from its command line.\n'use strict';\n`
        + `window.DEMO_CONFIG = Object.freeze(${JSON.stringify(config, null, 4)});\n`;
}

function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;',
        "'": '&#39;' })[c]);
}

// A small HTML page for errors, in the demo's style; `html` is already escaped.
function errorPage(title, html) {
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · jitsi-focus demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/demo.css">
</head>
<body class="landing">
<main class="card">
<h1>${escapeHtml(title)}</h1>
${html}
<p><a href="/">Back to the start page</a></p>
</main>
</body>
</html>
`;
}

function roomRule() {
    return '<p>Room names are 1 to 64 characters: lower-case letters, digits, '
        + '<code>.</code>, <code>_</code> and <code>-</code>.</p>';
}

// A name that breaks the rule: say why, and offer the lower-case name when that one is valid.
function badRoomPage(name) {
    const lower = name.toLowerCase();
    const suggestion = lower !== name && ROOM_RE.test(lower)
        ? `<p>Did you mean <a href="/${lower}">/${escapeHtml(lower)}</a>?</p>` : '';
    return errorPage('Invalid room name', `<p>“${escapeHtml(name)}” is not a room name.</p>${roomRule()}${suggestion}`);
}

// Decodes one path segment; null when its percent-encoding is broken.
function decodeSegment(s) {
    try { return decodeURIComponent(s); } catch (_) { return null; }
}

// Maps a request target to what to send: { file, type } | { body, type, status } | { redirect }.
function route(target, o) {
    // Only origin-form targets ("/path?query"); absolute-form or "*" have no business here.
    if (typeof target !== 'string' || !target.startsWith('/')) {
        return { status: 400, type: 'text/plain; charset=utf-8', body: 'bad request target\n' };
    }
    const q = target.indexOf('?');
    const pathname = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));

    if (pathname === '/') {
        if (!query.has('room')) { return { file: path.join(DEMO_DIR, 'landing.html'), type: STATIC_TYPES['.html'] }; }
        // The landing form without JavaScript: GET /?room=NAME.
        const room = query.get('room').trim();
        if (ROOM_RE.test(room)) { return { redirect: `/${room}` }; }
        return { status: 400, type: STATIC_TYPES['.html'], body: badRoomPage(room) };
    }
    if (pathname === '/config.js') { return { status: 200, type: STATIC_TYPES['.js'], body: configScript(o) }; }
    if (Object.prototype.hasOwnProperty.call(VENDOR, pathname)) {
        return { file: VENDOR[pathname], type: STATIC_TYPES['.js'] };
    }
    if (pathname.startsWith('/static/')) {
        const name = decodeSegment(pathname.slice('/static/'.length));
        if (name === null || name.includes('\0')) { return notFound(); }
        // Resolve, then require the result to stay inside demo/ (no ../ or absolute escapes).
        const file = path.resolve(DEMO_DIR, name);
        const type = STATIC_TYPES[path.extname(file)];
        if (!file.startsWith(DEMO_DIR + path.sep) || !type || NOT_STATIC.has(file)) { return notFound(); }
        return { file, type };
    }
    const segment = pathname.slice(1);
    if (!segment.includes('/')) {
        if (NOT_ROOMS.has(segment)) { return notFound(); }
        if (ROOM_RE.test(segment) && !/^\.+$/.test(segment)) {
            return { file: path.join(DEMO_DIR, 'index.html'), type: STATIC_TYPES['.html'] };
        }
        const name = decodeSegment(segment);
        if (name !== null && name !== '' && !name.includes('/')) {
            return { status: 400, type: STATIC_TYPES['.html'], body: badRoomPage(name) };
        }
    }
    return notFound();
}

function notFound() {
    return { status: 404, type: STATIC_TYPES['.html'],
        body: errorPage('Not found', '<p>There is nothing at this address.</p>') };
}

function send(req, res, status, headers, body) {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(body || '', 'utf8');
    res.writeHead(status, Object.assign({ 'content-length': data.length }, headers));
    res.end(req.method === 'HEAD' ? undefined : data);
}

function handle(req, res, o) {
    const common = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer', 'content-security-policy': contentSecurityPolicy(o) };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(req, res, 405, Object.assign({ allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }, common),
            'method not allowed\n');
        return;
    }
    const r = route(req.url, o);
    if (r.redirect) {
        send(req, res, 303, Object.assign({ location: r.redirect }, common), '');
        return;
    }
    if (!r.file) {
        send(req, res, r.status, Object.assign({ 'content-type': r.type }, common), r.body);
        return;
    }
    fs.readFile(r.file, (err, data) => {
        if (err) {
            const nf = notFound();
            // A directory or a vanished file is simply not there; anything else is our fault.
            const status = err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'ENOTDIR' ? 404 : 500;
            if (status === 500) { console.error(`demo server: reading ${r.file}: ${err.message}`); }
            send(req, res, status, Object.assign({ 'content-type': nf.type }, common),
                status === 404 ? nf.body : 'internal error\n');
            return;
        }
        send(req, res, 200, Object.assign({ 'content-type': r.type }, common), data);
    });
}

function main() {
    let o;
    try {
        o = parseArgs(process.argv.slice(2));
    } catch (e) {
        if (e instanceof UsageError) {
            console.error(`demo server: ${e.message}\n\n${USAGE}`);
            process.exit(2);
        }
        throw e;
    }
    if (o.help) { console.log(USAGE); return; }
    try {
        checkFiles();
    } catch (e) {
        console.error(`demo server: ${e.message}`);
        process.exit(1);
    }

    const server = http.createServer((req, res) => {
        // A response stream can fail when the browser goes away; nothing to do about it.
        res.on('error', () => {});
        try {
            handle(req, res, o);
        } catch (e) {
            console.error(`demo server: ${req.method} ${req.url}: ${e && e.stack || e}`);
            if (!res.headersSent) { res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }); }
            res.end('internal error\n');
        }
    });
    // Malformed HTTP: answer 400 when the socket still takes it, never crash.
    server.on('clientError', (err, socket) => {
        if (socket.writable && !socket.destroyed) {
            socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        } else {
            socket.destroy();
        }
    });
    server.on('error', e => {
        console.error(`demo server: cannot listen on 127.0.0.1:${o.port}: ${e.message}`);
        process.exit(1);
    });
    server.listen(o.port, '127.0.0.1', () => {
        console.log(`listening http://127.0.0.1:${server.address().port}/`);
    });
    for (const signal of [ 'SIGINT', 'SIGTERM' ]) {
        process.on(signal, () => {
            server.close();
            process.exit(0);
        });
    }
}

main();
