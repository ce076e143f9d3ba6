#!/usr/bin/env node
/*
 * jitsi-focus e2e driver: joins a conference with the real lib-jitsi-meet in headless Debian
 * Chromium (playwright-core, no bundled browser) and checks one expected outcome.
 *
 * It serves the test page (page/) and the two browser libraries (node_modules) itself from a
 * throwaway HTTP server on 127.0.0.1:<random port>. See README.md for the full contract.
 *
 * Exit codes: 0 expectation held; 1 expectation not met (incl. timeouts); 2 bad arguments;
 * 3 harness error (browser or page could not start). The last stdout line starts with PASS or FAIL.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const USAGE = `usage: node driver.js --service URL --room NAME --expect joined|failed [options]

  --service URL             BOSH http://127.0.0.1:PORT/http-bind or WebSocket ws://127.0.0.1:PORT/xmpp-websocket
  --room NAME               conference room name (lower case; the library rejects capitals)
  --expect joined|failed    expected outcome for the (first) participant
  --expect-error NAME       failed: first CONFERENCE_FAILED/CONNECTION_FAILED argument, or the login
                            rejection's connectionError/authenticationError (e.g. conference.reservationError)
  --expect-code CODE        failed: reservation error code (e.g. 403)
  --expect-message TEXT     failed: exact error text (e.g. "Custom message from reservation API")
  --expect-role ROLE        joined: role to reach: moderator (conference.isModerator(), i.e. the focus
                            made the user a MUC owner) or participant (joined, not moderator)
  --settle-ms N             joined: the role must stay as expected this long (default 500)
  --second-participant      after the first joined, join the same room from a second, isolated browser
  --expect-second-role ROLE role the second participant must reach (implies --second-participant)
  --leave                   after the outcome, leave + disconnect and require CONFERENCE_LEFT
  --login JID:PASSWORD      after CONFERENCE_FAILED conference.authenticationRequired, call
                            authenticateAndUpgradeRole({id: JID, password}) and check --expect etc.
                            against what follows (e.g. alice@auth.meet.test:secret)
  --domain D                hosts.domain (default meet.test)
  --anonymous-domain D      hosts.anonymousdomain (default: unset, anonymous login on --domain)
  --muc D                   hosts.muc (default conference.meet.test)
  --focus D                 hosts.focus, the conference IQ target (default focus.meet.test)
  --focus-user-jid J        config focusUserJid (default: unset, taken from focusjid= of the reply)
  --timeout-ms N            budget for each awaited step (default 20000)
  --keep-open               after the checks print a HOLD line and wait for SIGTERM/SIGINT, then clean up
  --out FILE                write the JSON result there
  --chromium PATH           browser binary (default $CHROMIUM or /usr/bin/chromium)
  --headful                 show the browser (needs a display; debugging only)
  -h, --help                this text`;

const CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'
];

class UsageError extends Error {}

// ------------------------------------------------------------------------------------------ args
function parseArgs(argv) {
    const o = {
        service: null, room: null, expect: null, expectError: null, expectCode: null, expectMessage: null,
        expectRole: null, settleMs: 500, secondParticipant: false, expectSecondRole: null, leave: false,
        login: null, domain: 'meet.test', anonymousDomain: null, muc: 'conference.meet.test',
        focus: 'focus.meet.test', focusUserJid: null, timeoutMs: 20000, keepOpen: false, out: null,
        chromium: process.env.CHROMIUM || '/usr/bin/chromium', headful: false
    };
    const valued = {
        '--service': 'service', '--room': 'room', '--expect': 'expect', '--expect-error': 'expectError',
        '--expect-code': 'expectCode', '--expect-message': 'expectMessage', '--expect-role': 'expectRole',
        '--settle-ms': 'settleMs', '--expect-second-role': 'expectSecondRole', '--login': 'login',
        '--domain': 'domain', '--anonymous-domain': 'anonymousDomain', '--muc': 'muc', '--focus': 'focus',
        '--focus-user-jid': 'focusUserJid', '--timeout-ms': 'timeoutMs', '--out': 'out', '--chromium': 'chromium'
    };
    const flags = {
        '--second-participant': 'secondParticipant', '--leave': 'leave', '--keep-open': 'keepOpen',
        '--headful': 'headful'
    };
    for (let i = 0; i < argv.length; i++) {
        let a = argv[i];
        let inline = null;
        if (a === '-h' || a === '--help') { o.help = true; continue; }
        const eq = a.indexOf('=');
        if (a.startsWith('--') && eq > 0) { inline = a.slice(eq + 1); a = a.slice(0, eq); }
        if (valued[a]) {
            const v = inline !== null ? inline : argv[++i];
            if (v === undefined) { throw new UsageError(`${a} needs a value`); }
            o[valued[a]] = v;
        } else if (flags[a] && inline === null) {
            o[flags[a]] = true;
        } else {
            throw new UsageError(`unknown argument: ${argv[i]}`);
        }
    }
    if (o.help) { return o; }
    for (const k of [ 'service', 'room', 'expect' ]) {
        if (!o[k]) { throw new UsageError(`--${k} is required`); }
    }
    if (![ 'joined', 'failed' ].includes(o.expect)) { throw new UsageError('--expect must be joined or failed'); }
    if (!/^(https?|wss?):\/\//.test(o.service)) { throw new UsageError('--service must be an http(s):// or ws(s):// URL'); }
    if (o.room !== o.room.toLowerCase()) { throw new UsageError('--room must be lower case (lib-jitsi-meet refuses capitals)'); }
    for (const k of [ 'timeoutMs', 'settleMs' ]) {
        const n = Number(o[k]);
        if (!Number.isFinite(n) || n < 0) { throw new UsageError(`--${k.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)} must be a number`); }
        o[k] = n;
    }
    const roles = [ 'moderator', 'participant' ];
    for (const k of [ 'expectRole', 'expectSecondRole' ]) {
        if (o[k] && !roles.includes(o[k])) { throw new UsageError(`role must be one of ${roles.join('|')}`); }
    }
    if (o.expectSecondRole) { o.secondParticipant = true; }
    if (o.expect === 'failed' && (o.expectRole || o.secondParticipant)) {
        throw new UsageError('--expect-role / --second-participant need --expect joined');
    }
    if (o.expect === 'joined' && (o.expectError || o.expectCode || o.expectMessage)) {
        throw new UsageError('--expect-error/--expect-code/--expect-message need --expect failed');
    }
    if (o.login) {
        const m = /^([^:]+@[^:]+):(.*)$/s.exec(o.login);
        if (!m) { throw new UsageError('--login must be JID:PASSWORD, e.g. alice@auth.meet.test:secret'); }
        o.loginId = m[1];
        o.loginPassword = m[2];
    }
    return o;
}

// ------------------------------------------------------------------------------------ web server
const HERE = __dirname;
function moduleDir(name) {
    return path.dirname(require.resolve(`${name}/package.json`, { paths: [ HERE ] }));
}
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
    '.map': 'application/json', '.json': 'application/json' };

function startServer() {
    const roots = {
        '/page/': path.join(HERE, 'page'),
        '/node_modules/jquery/dist/': path.join(moduleDir('jquery'), 'dist'),
        '/node_modules/lib-jitsi-meet-dist/dist/': path.join(moduleDir('lib-jitsi-meet-dist'), 'dist')
    };
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        let file = null;
        if (url.pathname === '/' || url.pathname === '/index.html') {
            file = path.join(roots['/page/'], 'index.html');
        } else {
            for (const [ prefix, dir ] of Object.entries(roots)) {
                if (url.pathname.startsWith(prefix)) {
                    const candidate = path.resolve(dir, decodeURIComponent(url.pathname.slice(prefix.length)));
                    if (candidate.startsWith(dir + path.sep)) { file = candidate; }
                    break;
                }
            }
        }
        if (!file) { res.writeHead(404); res.end('not found'); return; }
        fs.readFile(file, (err, data) => {
            if (err) { res.writeHead(404); res.end('not found'); return; }
            res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
                'cache-control': 'no-store' });
            res.end(data);
        });
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
    });
}

// ------------------------------------------------------------------------------------ formatting
const q = s => JSON.stringify(s === undefined ? null : s);

function describeExpected(o) {
    if (o.expect === 'joined') {
        return `CONFERENCE_JOINED${o.expectRole ? ` as ${o.expectRole}` : ''}`;
    }
    const parts = [ 'CONFERENCE_FAILED' ];
    parts.push(o.expectError || '(any error)');
    if (o.expectCode !== null) { parts.push(String(o.expectCode)); }
    if (o.expectMessage !== null) { parts.push(q(o.expectMessage)); }
    return parts.join(' ');
}

function describeOutcome(oc) {
    if (!oc) { return 'nothing'; }
    switch (oc.kind) {
    case 'joined': return `CONFERENCE_JOINED (role at join ${oc.roleAtJoin || 'unknown'})`;
    case 'failed': {
        const label = { conference: 'CONFERENCE_FAILED', connection: 'CONNECTION_FAILED', login: 'login rejected' }[oc.source];
        return [ label, oc.error, oc.code !== null && oc.code !== undefined ? String(oc.code) : null,
            oc.message !== null && oc.message !== undefined ? q(oc.message) : null ].filter(Boolean).join(' ');
    }
    case 'timeout': return `no outcome within ${oc.waitedMs} ms (last events: ${oc.lastEvents.join(', ') || 'none'})`;
    default: return JSON.stringify(oc);
    }
}

// Turn the terminal recorded event into an outcome record.
function outcomeOf(ev) {
    const args = ev.args || [];
    if (ev.name === 'conference.joined') { return { kind: 'joined', source: 'conference', event: ev.name, seq: ev.seq }; }
    if (ev.name === 'conference.failed') {
        const error = args[0];
        const reservation = error === 'conference.reservationError';
        return { kind: 'failed', source: 'conference', event: ev.name, seq: ev.seq, error,
            code: reservation ? args[1] : null,
            message: reservation ? args[2] : (typeof args[1] === 'string' ? args[1] : null), args };
    }
    if (ev.name === 'connection.connectionFailed') {
        return { kind: 'failed', source: 'connection', event: ev.name, seq: ev.seq, error: args[0],
            code: null, message: typeof args[1] === 'string' ? args[1] : null, args };
    }
    if (ev.name === 'e2e.login_rejected') {
        const r = args[0] || {};
        return { kind: 'failed', source: 'login', event: ev.name, seq: ev.seq,
            error: r.connectionError || r.authenticationError || 'canceled', code: null,
            message: r.message === undefined ? null : r.message, args };
    }
    return { kind: 'unknown', event: ev.name, seq: ev.seq, args };
}

// ----------------------------------------------------------------------------------- participant
class Participant {
    constructor(label, opts, baseUrl, consoleSink) {
        this.label = label;
        this.opts = opts;
        this.baseUrl = baseUrl;
        this.console = consoleSink;
        this.context = null;
        this.page = null;
        this.userDataDir = null;
        this.final = null;
        this.left = false;
        this.beforeLeave = null;
    }

    async launch(chromium) {
        // Each participant gets its own profile: lib-jitsi-meet keeps machine-uid and the focus
        // session-id in localStorage, so two pages of one profile would look like one user.
        this.userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), `jitsi-focus-e2e-${this.label}-`));
        this.context = await chromium.launchPersistentContext(this.userDataDir, {
            executablePath: this.opts.chromium,
            headless: !this.opts.headful,
            // The driver handles SIGINT/SIGTERM itself (--keep-open): leave, disconnect, then close.
            handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
            args: this.opts.headful ? CHROMIUM_ARGS.filter(a => a !== '--headless') : CHROMIUM_ARGS
        });
        this.page = this.context.pages()[0] || await this.context.newPage();
        this.page.on('console', m => this.console.push(`[${this.label}] [${m.type()}] ${m.text()}`));
        this.page.on('pageerror', e => this.console.push(`[${this.label}] [pageerror] ${e}`));
        await this.page.goto(`${this.baseUrl}/page/index.html`, { timeout: this.opts.timeoutMs });
        await this.page.waitForFunction(() => window.E2E && (window.E2E.ready || window.E2E.errors.length > 0),
            null, { timeout: this.opts.timeoutMs, polling: 50 });
        const st = await this.page.evaluate(() => ({ ready: window.E2E.ready, errors: window.E2E.errors }));
        if (!st.ready) { throw new Error(`test page did not initialise: ${st.errors.join('; ')}`); }
    }

    async connectAndJoin() {
        const o = this.opts;
        await this.page.evaluate(cfg => window.E2E.connect(cfg), {
            serviceUrl: o.service, domain: o.domain, muc: o.muc, focus: o.focus,
            anonymousDomain: o.anonymousDomain, focusUserJid: o.focusUserJid
        });
        // Join as soon as the XMPP connection is up; stop on CONNECTION_FAILED.
        const h = await this.page.waitForFunction(() => window.E2E.connection !== null && window.E2E.connection,
            null, { timeout: this.opts.timeoutMs, polling: 50 }).catch(() => null);
        const state = h ? await h.jsonValue() : null;
        if (state === 'established') {
            await this.page.evaluate(room => window.E2E.join(room), o.room);
        }
    }

    // Wait for the first terminal event with seq >= sinceSeq. Returns an outcome record.
    async awaitOutcome(sinceSeq, { login = false } = {}) {
        const started = Date.now();
        try {
            const h = await this.page.waitForFunction(([ since, withLogin ]) => {
                const terminal = [ 'conference.joined', 'conference.failed', 'connection.connectionFailed' ];
                if (withLogin) { terminal.push('e2e.login_rejected'); }
                const ev = window.E2E.events.find(e => e.seq >= since && terminal.includes(e.name));
                return ev ? { seq: ev.seq, name: ev.name, args: ev.args, t: ev.t } : null;
            }, [ sinceSeq, login ], { timeout: this.opts.timeoutMs, polling: 50 });
            const oc = outcomeOf(await h.jsonValue());
            if (oc.kind === 'joined') { oc.roleAtJoin = await this.role(); }
            return oc;
        } catch (e) {
            if (!/Timeout/i.test(String(e && e.name)) && !/Timeout/i.test(String(e && e.message))) { throw e; }
            const events = await this.page.evaluate(() => window.E2E.events.map(ev => ev.name)).catch(() => []);
            return { kind: 'timeout', waitedMs: Date.now() - started, lastEvents: events.slice(-6) };
        }
    }

    // 'moderator' | 'participant' | null (not joined); see E2E.role in page/client.js
    async role() {
        return this.page.evaluate(() => window.E2E.role());
    }

    async nextSeq() {
        return this.page.evaluate(() => window.E2E.events.length);
    }

    // Wait until the local role equals `want`, then require it to hold for settleMs.
    async awaitRole(want) {
        const started = Date.now();
        try {
            await this.page.waitForFunction(w => window.E2E.role() === w,
                want, { timeout: this.opts.timeoutMs, polling: 50 });
        } catch (e) {
            return { ok: false, role: await this.role(), waitedMs: Date.now() - started };
        }
        if (this.opts.settleMs > 0) {
            // A role that flips away during the settle window counts as not reached.
            const changed = await this.page.waitForFunction(w => window.E2E.role() !== w,
                want, { timeout: this.opts.settleMs, polling: 50 }).then(() => true, () => false);
            if (changed) { return { ok: false, role: await this.role(), flipped: true, waitedMs: Date.now() - started }; }
        }
        return { ok: true, role: want, waitedMs: Date.now() - started };
    }

    async login(id, password) {
        const since = await this.nextSeq();
        await this.page.evaluate(([ i, p ]) => window.E2E.login(i, p), [ id, password ]);
        return since;
    }

    async leave(timeoutMs) {
        if (!this.page || this.left) { return null; }
        this.left = true;
        return this.page.evaluate(ms => window.E2E.leave(ms), timeoutMs).catch(e => ({ state: 'error', error: String(e) }));
    }

    async snapshot() {
        if (!this.page) { return null; }
        this.final = await this.page.evaluate(() => window.E2E.state()).catch(e => ({ error: String(e) }));
        return this.final;
    }

    async close() {
        if (this.context) { await this.context.close().catch(() => {}); this.context = null; }
        if (this.userDataDir) {
            try {
                fs.rmSync(this.userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
            } catch (e) {
                this.console.push(`[${this.label}] [driver] could not remove ${this.userDataDir}: ${e.message}`);
            }
            this.userDataDir = null;
        }
    }
}

// -------------------------------------------------------------------------------------- checking
function checkOutcome(o, oc) {
    const reasons = [];
    if (o.expect === 'joined') {
        if (oc.kind !== 'joined') { reasons.push(`expected ${describeExpected(o)} but got ${describeOutcome(oc)}`); }
        return reasons;
    }
    if (oc.kind !== 'failed') {
        reasons.push(`expected ${describeExpected(o)} but got ${describeOutcome(oc)}`);
        return reasons;
    }
    const mismatch = [];
    if (o.expectError && oc.error !== o.expectError) { mismatch.push('error'); }
    if (o.expectCode !== null && String(oc.code) !== String(o.expectCode)) { mismatch.push('code'); }
    if (o.expectMessage !== null && oc.message !== o.expectMessage) { mismatch.push('message'); }
    if (mismatch.length) {
        reasons.push(`expected ${describeExpected(o)} but got ${describeOutcome(oc)} (differs: ${mismatch.join(", ")})`);
    }
    return reasons;
}

function waitForSignal() {
    return new Promise(resolve => {
        const done = sig => { process.off('SIGTERM', done); process.off('SIGINT', done); resolve(sig); };
        process.on('SIGTERM', done);
        process.on('SIGINT', done);
    });
}

// ------------------------------------------------------------------------------------------ main
async function main() {
    let o;
    try {
        o = parseArgs(process.argv.slice(2));
    } catch (e) {
        if (e instanceof UsageError) {
            console.error(`${e.message}\n\n${USAGE}`);
            console.log(`FAIL bad arguments: ${e.message}`);
            return 2;
        }
        throw e;
    }
    if (o.help) { console.log(USAGE); return 0; }

    const { chromium } = require('playwright-core');
    const started = Date.now();
    const timings = {};
    const consoleLines = [];
    const result = {
        ok: false, verdict: null, reasons: [], harnessError: null,
        args: Object.assign({}, o, { login: o.login ? `${o.loginId}:***` : null, loginPassword: undefined }),
        expected: null, outcome: null, preLoginOutcome: null, roleCheck: null,
        role: null, rawRole: null, isModerator: null, selfMuc: null, members: [], roomMembers: [], focusJid: null, myRoomJid: null, myUserId: null,
        login: null, leave: null, events: [], xmpp: [], errors: [], console: consoleLines,
        second: null, timings, versions: { node: process.version }
    };
    result.expected = describeExpected(o);

    let server = null;
    const participants = [];
    let exitCode = 1;
    // Hard stop if something hangs outside the awaited steps (not while holding with --keep-open).
    let holding = false;
    const watchdog = setInterval(() => {
        if (!holding && Date.now() - started > o.timeoutMs * 4 + 60000) {
            console.log(`FAIL harness watchdog: driver still running after ${Date.now() - started} ms`);
            process.exit(3);
        }
    }, 1000);

    try {
        server = await startServer();
        const baseUrl = `http://127.0.0.1:${server.address().port}`;
        result.versions.playwright = require('playwright-core/package.json').version;

        const first = new Participant('p1', o, baseUrl, consoleLines);
        participants.push(first);
        try {
            await first.launch(chromium);
        } catch (e) {
            result.harnessError = String(e && e.stack || e);
            result.verdict = `FAIL harness error: ${String(e && e.message || e).split('\n')[0]}`;
            exitCode = 3;
            return exitCode;
        }
        result.versions.chromium = first.context.browser() ? first.context.browser().version() : null;
        timings.browserReadyMs = Date.now() - started;

        await first.connectAndJoin();
        let oc = await first.awaitOutcome(0);
        timings.outcomeMs = Date.now() - started;

        if (o.login) {
            result.preLoginOutcome = oc;
            if (!(oc.kind === 'failed' && oc.source === 'conference' && oc.error === 'conference.authenticationRequired')) {
                result.reasons.push(`expected CONFERENCE_FAILED conference.authenticationRequired before --login but got ${describeOutcome(oc)}`);
            } else {
                const since = await first.login(o.loginId, o.loginPassword);
                oc = await first.awaitOutcome(since, { login: true });
                timings.loginOutcomeMs = Date.now() - started;
            }
        }
        result.outcome = oc;
        if (!result.reasons.length) { result.reasons.push(...checkOutcome(o, oc)); }

        if (!result.reasons.length && oc.kind === 'joined' && o.expectRole) {
            const rc = result.roleCheck = await first.awaitRole(o.expectRole);
            if (!rc.ok) {
                result.reasons.push(rc.flipped
                    ? `expected role ${o.expectRole} but it changed to ${rc.role} within ${o.settleMs} ms`
                    : `expected role ${o.expectRole} but role is ${rc.role} after ${rc.waitedMs} ms`);
            }
        }

        if (!result.reasons.length && o.secondParticipant) {
            const second = new Participant('p2', o, baseUrl, consoleLines);
            participants.push(second);
            result.second = { outcome: null, roleCheck: null };
            try {
                await second.launch(chromium);
            } catch (e) {
                result.harnessError = String(e && e.stack || e);
                result.reasons.push(`harness error starting second participant: ${String(e && e.message || e).split('\n')[0]}`);
                exitCode = 3;
            }
            if (!result.harnessError) {
                await second.connectAndJoin();
                const oc2 = result.second.outcome = await second.awaitOutcome(0);
                if (oc2.kind !== 'joined') {
                    result.reasons.push(`expected second participant CONFERENCE_JOINED but got ${describeOutcome(oc2)}`);
                } else if (o.expectSecondRole) {
                    const rc2 = result.second.roleCheck = await second.awaitRole(o.expectSecondRole);
                    if (!rc2.ok) {
                        result.reasons.push(`expected second participant role ${o.expectSecondRole} but it is ${rc2.role}`
                            + (rc2.flipped ? ` (changed within ${o.settleMs} ms)` : ` after ${rc2.waitedMs} ms`));
                    }
                }
                // The first participant's role must survive the second one joining.
                if (o.expectRole) {
                    const r1 = await first.role();
                    if (r1 !== o.expectRole) {
                        result.reasons.push(`first participant's role changed to ${r1} after the second joined`);
                    }
                }
                timings.secondOutcomeMs = Date.now() - started;
            }
        }

        if (o.keepOpen) {
            holding = true;
            const pending = result.reasons.length ? `FAIL ${result.reasons[0]}` : 'PASS so far';
            console.log(`HOLD ${describeOutcome(oc)}; ${pending}; send SIGTERM or SIGINT to leave and exit`);
            await waitForSignal();
            holding = false;
        }

        for (const p of participants) { if (p.page) { p.beforeLeave = await p.snapshot(); } }
        if (o.leave && oc.kind === 'joined') {
            const since = await first.nextSeq();
            const lv = await first.leave(Math.min(o.timeoutMs, 10000));
            result.leave = lv;
            const left = await first.page.evaluate(s => window.E2E.events.some(e => e.seq >= s && e.name === 'conference.left'), since)
                .catch(() => false);
            if (!left) {
                result.reasons.push(`expected CONFERENCE_LEFT after leave but got ${lv && lv.error ? lv.error : 'no conference.left event'}`);
            }
            timings.leaveMs = Date.now() - started;
        }

        exitCode = result.reasons.length ? (exitCode === 3 ? 3 : 1) : 0;
        return exitCode;
    } catch (e) {
        result.harnessError = String(e && e.stack || e);
        result.reasons.push(`harness error: ${String(e && e.message || e).split('\n')[0]}`);
        exitCode = 3;
        return exitCode;
    } finally {
        clearInterval(watchdog);
        // Always leave and disconnect: a browser closed without that leaves a ghost occupant
        // in the room until Prosody's BOSH/WebSocket session times out.
        for (const p of participants) {
            if (p.page) {
                // Role, members and JIDs as they were before leaving; events, traffic and the
                // leave status as they are after leaving.
                const before = p.beforeLeave || await p.snapshot();
                await p.leave(3000);
                const after = await p.snapshot();
                p.final = Object.assign({}, before, after && !after.error ? {
                    events: after.events, xmpp: after.xmpp, errors: after.errors, leave: after.leave, login: after.login
                } : {});
            }
        }
        for (const p of participants) { await p.close(); }
        if (server) { await new Promise(r => server.close(r)); }

        const fill = (target, st) => {
            if (!st) { return; }
            for (const k of [ 'role', 'rawRole', 'isModerator', 'selfMuc', 'members', 'roomMembers', 'focusJid', 'myRoomJid', 'myUserId',
                'events', 'xmpp', 'errors' ]) {
                target[k] = st[k] === undefined ? null : st[k];
            }
            target.login = st.login === undefined ? null : st.login;
            if (!target.leave) { target.leave = st.leave === undefined ? null : st.leave; }
            if (st.libVersion) { result.versions.lib = st.libVersion; }
        };
        if (participants[0]) { fill(result, participants[0].final); }
        if (participants[1] && result.second) { fill(result.second, participants[1].final); }
        timings.totalMs = Date.now() - started;

        result.ok = exitCode === 0;
        if (!result.verdict) {
            const role = result.role ? `, role ${result.role}` : '';
            const second = result.second && result.second.role ? `, second participant role ${result.second.role}` : '';
            result.verdict = result.ok
                ? `PASS expected ${result.expected}, got ${describeOutcome(result.outcome)}${role}${second}${o.leave ? ', then CONFERENCE_LEFT' : ''} (${timings.totalMs} ms)`
                : `FAIL ${result.reasons.join('; ')}${role && !result.reasons.join('').includes('role') ? ` [first participant role ${result.role}]` : ''}`;
        }
        if (o.out) {
            fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
            fs.writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
        }
        console.log(result.verdict + (o.out ? ` -> ${o.out}` : ''));
    }
}

main().then(code => { process.exitCode = code; }, e => {
    console.log(`FAIL harness error: ${e && e.stack || e}`);
    process.exit(3);
});
