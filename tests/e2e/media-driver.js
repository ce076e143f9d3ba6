#!/usr/bin/env node
/*
 * jitsi-focus media e2e driver: N participants with the real lib-jitsi-meet (fake camera and
 * microphone) in one headless Debian Chromium (playwright-core), one isolated browser context
 * each, join one room through Prosody; the focus allocates them on a bridge and signals Jingle.
 *
 * Checked for every participant: it answered session-initiate with session-accept and the focus
 * acknowledged it; it got every other participant's remote audio and video track, attributed to
 * that participant and carrying an SSRC that participant announced; the selected ICE candidate
 * pair of its JVB peer connection has the bridge as remote candidate and DTLS is connected; it
 * decodes every other participant's video and receives its audio (getStats counters rising,
 * sampled in the page; the time from CONFERENCE_JOINED to the first remote frame is reported).
 * Optionally a moderator mutes a participant (its audio must stop reaching the others) or the
 * bridge process is killed (media must come back in new peer connections in time). Then one
 * participant leaves and the others' remote tracks for it must be removed.
 *
 * Exit codes: 0 all checks held; 1 a check failed (incl. timeouts); 2 bad arguments; 3 harness
 * error (missing library, browser or page could not start). The last stdout line starts with
 * PASS or FAIL. See README.md ("Media driver").
 */
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const USAGE = `usage: node media-driver.js --lib dist215|lyno --service URL --room NAME [options]

  --lib dist215|lyno      dist215: npm lib-jitsi-meet-dist 2.1.5 (2020, Plan B: at most 2 participants)
                          lyno: npm @lyno/lib-jitsi-meet 2.6726.2 (Dec 2021, Unified Plan), from
                          tests/e2e/vendor (scripts/install-deps.sh fetches and patches it)
  --service URL           BOSH http://127.0.0.1:PORT/http-bind or WebSocket ws://127.0.0.1:PORT/xmpp-websocket
  --room NAME             room name (lower case)
  --participants N        how many participants join (default 2)
  --bridge-port P         the bridge's UDP port: every selected candidate pair must have 127.0.0.1:P as
                          its remote candidate
  --late-video I          participant I joins with its microphone only and adds its camera once
                          everything has settled (the client's own source-add): the others must then
                          get its remote video track too
  --mute-audio-of I       once media flows, the first participant (the moderator) mutes participant I's
                          audio: the others' audio packets from I must stop while its video goes on
  --kill-pid PID          once media flows, SIGKILL this process (the bridge carrying the conference):
                          every participant must decode the others' video and receive their audio
                          again in a new peer connection within --recover-ms
  --recover-ms N          budget for media to come back after --kill-pid (default 10000)
  --leave-index I         which participant leaves at the end (default: the last); -1: nobody
  --timeout-ms N          budget for each awaited step (default 30000)
  --out FILE              write the JSON result there
  --chromium PATH         browser binary (default $CHROMIUM or /usr/bin/chromium)
  -h, --help              this text`;

const CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    // Without it Chromium gathers no 127.0.0.1 candidate and cannot reach a loopback bridge.
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns'
];

const LYNO_DIR = path.join(__dirname, 'vendor', 'lyno-lib-jitsi-meet-2.6726.2');

class UsageError extends Error {}

function parseArgs(argv) {
    const o = { lib: null, service: null, room: null, participants: 2, bridgePort: null, leaveIndex: null,
        lateVideo: null, muteAudioOf: null, killPid: null, recoverMs: 10000,
        timeoutMs: 30000, out: null, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
    const valued = { '--lib': 'lib', '--service': 'service', '--room': 'room', '--participants': 'participants',
        '--bridge-port': 'bridgePort', '--leave-index': 'leaveIndex', '--late-video': 'lateVideo',
        '--mute-audio-of': 'muteAudioOf', '--kill-pid': 'killPid', '--recover-ms': 'recoverMs',
        '--timeout-ms': 'timeoutMs', '--out': 'out',
        '--chromium': 'chromium' };
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
    for (const k of [ 'lib', 'service', 'room' ]) {
        if (!o[k]) { throw new UsageError(`--${k} is required`); }
    }
    if (![ 'dist215', 'lyno' ].includes(o.lib)) { throw new UsageError('--lib must be dist215 or lyno'); }
    if (!/^(https?|wss?):\/\//.test(o.service)) { throw new UsageError('--service must be an http:// or ws:// URL'); }
    if (o.room !== o.room.toLowerCase()) { throw new UsageError('--room must be lower case'); }
    for (const k of [ 'participants', 'timeoutMs', 'bridgePort', 'leaveIndex', 'lateVideo', 'muteAudioOf', 'killPid',
        'recoverMs' ]) {
        if (o[k] === null) { continue; }
        const n = Number(o[k]);
        if (!Number.isInteger(n)) { throw new UsageError(`--${k} must be an integer`); }
        o[k] = n;
    }
    if (o.participants < 2) { throw new UsageError('--participants must be at least 2'); }
    if (o.lib === 'dist215' && o.participants > 2) {
        // Plan B in a Unified-Plan-only Chromium: a second remote msid in one m-line fails.
        throw new UsageError('--lib dist215 works with 2 participants at most in Chromium 156');
    }
    if (o.leaveIndex === null) { o.leaveIndex = o.participants - 1; }
    if (o.leaveIndex >= o.participants || o.leaveIndex < -1) { throw new UsageError('--leave-index out of range'); }
    if (o.muteAudioOf !== null && (o.muteAudioOf < 1 || o.muteAudioOf >= o.participants)) {
        throw new UsageError('--mute-audio-of must name a participant other than the first (the moderator)');
    }
    if (o.lateVideo !== null && (o.lateVideo < 0 || o.lateVideo >= o.participants)) {
        throw new UsageError('--late-video out of range');
    }
    return o;
}

// ------------------------------------------------------------------------------------ web server
function moduleDir(name) {
    return path.dirname(require.resolve(`${name}/package.json`, { paths: [ __dirname ] }));
}
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
    '.map': 'application/json', '.json': 'application/json' };

function startServer() {
    const roots = {
        '/page/': path.join(__dirname, 'page'),
        '/node_modules/jquery/dist/': path.join(moduleDir('jquery'), 'dist'),
        '/node_modules/jquery-3.6/dist/': path.join(moduleDir('jquery-3.6'), 'dist'),
        '/node_modules/lib-jitsi-meet-dist/dist/': path.join(moduleDir('lib-jitsi-meet-dist'), 'dist'),
        '/vendor/lyno/': LYNO_DIR
    };
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        let file = null;
        for (const [ prefix, dir ] of Object.entries(roots)) {
            if (url.pathname.startsWith(prefix)) {
                const candidate = path.resolve(dir, decodeURIComponent(url.pathname.slice(prefix.length)));
                if (candidate.startsWith(dir + path.sep)) { file = candidate; }
                break;
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

// ----------------------------------------------------------------------------------- participant
class Participant {
    constructor(index, opts, consoleSink) {
        this.index = index;
        this.label = `p${index + 1}`;
        this.opts = opts;
        this.console = consoleSink;
        this.context = null;
        this.page = null;
        this.endpointId = null;
        this.stats = null;
        this.left = null;
        this.timings = {};
        // The media it has put on its peer connection.
        this.sending = [ 'audio', 'video' ];
    }

    async open(browser, baseUrl) {
        // One context each: lib-jitsi-meet keeps machine-uid and the focus session-id in
        // localStorage, so two pages of one context would look like one user to the focus.
        this.context = await browser.newContext();
        this.page = await this.context.newPage();
        this.page.on('console', m => this.console.push(`[${this.label}] [${m.type()}] ${m.text()}`));
        this.page.on('pageerror', e => this.console.push(`[${this.label}] [pageerror] ${e}`));
        await this.page.goto(`${baseUrl}/page/media.html?lib=${this.opts.lib}`, { timeout: this.opts.timeoutMs });
        await this.page.waitForFunction(() => window.M && (window.M.ready || window.M.errors.length > 0),
            null, { timeout: this.opts.timeoutMs, polling: 50 });
        const st = await this.page.evaluate(() => ({ ready: window.M.ready, errors: window.M.errors }));
        if (!st.ready) { throw new Error(`${this.label}: page did not initialise: ${st.errors.join('; ')}`); }
    }

    async connectAndCreateTracks() {
        const o = this.opts;
        await this.page.evaluate(cfg => window.M.connect(cfg), { serviceUrl: o.service });
        const local = await this.page.evaluate(() => window.M.createTracks());
        const types = local.map(t => t.type).sort().join(',');
        if (types !== 'audio,video') { throw new Error(`${this.label}: local tracks are ${types}, not audio and video`); }
    }

    async join() {
        const options = {
            // P2P is on when the option is absent; a two-party call would bypass the bridge.
            p2p: { enabled: false },
            disableSimulcast: true,
            openBridgeChannel: 'datachannel'
        };
        if (this.opts.lib === 'lyno') {
            // A conference option in this version (ignored in JitsiMeetJS.init).
            options.enableUnifiedOnChrome = true;
        }
        const late = this.opts.lateVideo === this.index;
        if (late) { this.sending = [ 'audio' ]; }
        await this.page.evaluate(([ room, opts, media ]) => window.M.join(room, opts, media),
            [ this.opts.room, options, this.sending ]);
        await this.waitFor(`${this.label} CONFERENCE_JOINED`, () => window.M.joined());
        this.endpointId = await this.page.evaluate(() => window.M.endpointId());
    }

    // Waits until fn (evaluated in the page) is truthy; on timeout fails with what is known.
    async waitFor(what, fn, arg, timeoutMs) {
        const timeout = timeoutMs || this.opts.timeoutMs;
        try {
            const h = await this.page.waitForFunction(fn, arg, { timeout, polling: 100 });
            return h.jsonValue();
        } catch (e) {
            const brief = await this.page.evaluate(() => window.M.brief()).catch(err => String(err));
            throw new Error(`${what}: not within ${timeout} ms (${e.message.split('\n')[0]}); `
                + `state: ${JSON.stringify(brief).slice(0, 1500)}`);
        }
    }

    // session-initiate came in and was acknowledged, session-accept went out and got a result.
    async awaitAccepted() {
        await this.waitFor(`${this.label} session-accept answered`, () => window.M.jingle.some(j =>
            j.dir === 'out' && j.action === 'session-accept' && j.answer));
        const jingle = await this.page.evaluate(() => window.M.jingle.map(j => ({ dir: j.dir, action: j.action,
            answer: j.answer })));
        const reasons = [];
        const initiate = jingle.find(j => j.dir === 'in' && j.action === 'session-initiate');
        const accept = jingle.find(j => j.dir === 'out' && j.action === 'session-accept');
        if (!initiate) { reasons.push(`${this.label}: no session-initiate received`); }
        if (accept.answer.type !== 'result') {
            reasons.push(`${this.label}: the focus answered session-accept with ${accept.answer.error}`);
        }
        for (const j of jingle.filter(x => x.dir === 'out' && x.answer && x.answer.type !== 'result')) {
            reasons.push(`${this.label}: ${j.action} answered ${j.answer.error}`);
        }
        return reasons;
    }

    // Every other participant's audio and video (audio only for one that has not added its
    // camera yet) are live remote tracks attributed to it (added and not removed since).
    async awaitRemoteTracks(others) {
        const want = others.map(p => [ p.endpointId, p.sending ]);
        const what = want.map(([ id, media ]) => `${media.join('+')} of ${id}`).join(', ');
        await this.waitFor(`${this.label} remote ${what}`, pairs => pairs.every(([ id, media ]) =>
            media.every(type => window.M.live().some(r => r.participant === id && r.type === type))), want);
    }

    // Every Jingle request sent or received has been answered.
    async awaitJingleQuiet() {
        await this.waitFor(`${this.label} every Jingle request answered`,
            () => window.M.jingle.every(j => j.answer));
    }

    // The JVB peer connection's selected pair and DTLS, from getStats() (polled, bounded).
    async awaitTransport() {
        const deadline = Date.now() + this.opts.timeoutMs;
        for (;;) {
            const s = await this.page.evaluate(() => window.M.stats());
            this.stats = s;
            const dtls = s.transports && s.transports.some(t => t.dtlsState === 'connected');
            if (s.pair && s.pair.remote && dtls && s.pc.connectionState === 'connected') { return s; }
            if (Date.now() > deadline) {
                throw new Error(`${this.label}: ICE/DTLS to the bridge not connected within ${this.opts.timeoutMs} ms: `
                    + JSON.stringify(s));
            }
            await new Promise(r => setTimeout(r, 200)); // polling getStats, not synchronisation
        }
    }

    // Starts the page's media sampler (getStats every 250 ms).
    async watchMedia() {
        await this.page.evaluate(() => window.M.watchMedia(250));
    }

    // Video frames decoded and audio packets received keep rising from every one of others (what
    // each sends), in a peer connection other than notPcId (after a bridge move: the new one).
    async awaitMediaFlowing(others, notPcId, timeoutMs) {
        const senders = others.map(p => [ p.endpointId, p.sending ]);
        const what = `${this.label} decoding video and receiving audio from `
            + `${senders.map(([ id, media ]) => `${id} (${media.join('+')})`).join(', ')}`
            + `${notPcId ? ` in a new peer connection (not #${notPcId})` : ''}`;
        await this.waitFor(what, ([ want, not ]) => window.M.flowing(want, not), [ senders, notPcId ], timeoutMs);
        return this.page.evaluate(() => window.M.media.last);
    }

    // When media from each other participant first arrived, from this page's CONFERENCE_JOINED.
    async firstMedia() {
        return this.page.evaluate(() => {
            const M = window.M;
            const joined = M.joinedAt();
            const firsts = M.media.firsts[Object.keys(M.media.firsts)[0]] || {};
            const out = {};
            for (const [ id, f ] of Object.entries(firsts)) {
                out[id] = { frameMs: f.frame === null ? null : f.frame - joined,
                    audioMs: f.audio === null ? null : f.audio - joined };
            }
            return out;
        });
    }

    async addVideo() {
        await this.page.evaluate(() => window.M.addVideo());
        this.sending = [ 'audio', 'video' ];
    }

    async awaitRemoved(leaver) {
        await this.waitFor(`${this.label} remote tracks of ${leaver.endpointId} removed`, id =>
            [ 'audio', 'video' ].every(type => window.M.remote.some(r =>
                r.event === 'removed' && r.participant === id && r.type === type)), leaver.endpointId);
    }

    async leave() {
        this.left = await this.page.evaluate(() => window.M.leave(5000)).catch(e => ({ error: String(e) }));
        return this.left;
    }

    async snapshot() {
        const s = await this.page.evaluate(() => window.M.state()).catch(e => ({ error: String(e) }));
        s.rawInbound = await this.page.evaluate(() => window.M.rawInbound()).catch(e => String(e));
        // The endpoint id as it was while joined (myUserId() is gone after leaving).
        return Object.assign({ label: this.label, stats: this.stats, leave: this.left, timings: this.timings }, s,
            { endpointId: this.endpointId || s.endpointId || null });
    }

    async close() {
        if (this.context) { await this.context.close().catch(() => {}); this.context = null; }
    }
}

// The SSRCs a participant announced (session-accept, source-add) per media, from its own Jingle.
function announcedSources(state) {
    const out = { audio: new Set(), video: new Set() };
    for (const j of state.jingle || []) {
        if (j.dir !== 'out' || ![ 'session-accept', 'source-add' ].includes(j.action)) { continue; }
        // <content name=…><description media='audio|video' …><source ssrc='…'>; one content per media.
        const contents = j.xml.split(/<content\b/).slice(1);
        for (const c of contents) {
            const media = /<description\b[^>]*\bmedia="(audio|video)"/.exec(c);
            if (!media) { continue; }
            for (const m of c.matchAll(/<source\b[^>]*\bssrc="(\d+)"/g)) { out[media[1]].add(Number(m[1])); }
        }
    }
    return out;
}

// Every remote track must belong to another participant and carry an SSRC that participant
// announced (session-accept, source-add) for that media.
function misattributed(states) {
    const reasons = [];
    const announced = new Map(states.map(s => [ s.endpointId, announcedSources(s) ]));
    for (const s of states) {
        for (const r of s.remote.filter(x => x.event === 'added')) {
            const owner = announced.get(r.participant);
            if (!owner || r.participant === s.endpointId) {
                reasons.push(`${s.label}: remote ${r.type} track attributed to ${r.participant}, not another participant`);
            } else if (!owner[r.type] || !owner[r.type].has(r.ssrc)) {
                reasons.push(`${s.label}: remote ${r.type} track of ${r.participant} has SSRC ${r.ssrc}, `
                    + `which it did not announce (${[ ...(owner[r.type] || []) ].join(', ')})`);
            }
        }
    }
    return reasons;
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

    const started = Date.now();
    const consoleLines = [];
    const timings = {};
    const result = { ok: false, verdict: null, reasons: [], harnessError: null, args: o, participants: [],
        leaver: null, timings, console: consoleLines, versions: { node: process.version } };
    const mark = name => { timings[name] = Date.now() - started; };
    let server = null;
    let browser = null;
    const participants = [];
    let exitCode = 1;
    const watchdog = setTimeout(() => {
        console.log(`FAIL harness watchdog: driver still running after ${Date.now() - started} ms`);
        process.exit(3);
    }, o.timeoutMs * 6 + 60000);

    try {
        if (o.lib === 'lyno' && !fs.existsSync(path.join(LYNO_DIR, 'PATCHED'))) {
            throw Object.assign(new Error(`${LYNO_DIR} is missing or not patched: run scripts/install-deps.sh`),
                { harness: true });
        }
        let chromium;
        try {
            ({ chromium } = require('playwright-core'));
            result.versions.playwright = require('playwright-core/package.json').version;
        } catch (e) {
            throw Object.assign(new Error(`playwright-core missing: run scripts/install-deps.sh (${e.message})`),
                { harness: true });
        }
        server = await startServer();
        const baseUrl = `http://127.0.0.1:${server.address().port}`;
        try {
            browser = await chromium.launch({ executablePath: o.chromium, headless: true, args: CHROMIUM_ARGS });
        } catch (e) {
            throw Object.assign(new Error(`Chromium did not start: ${e.message}`), { harness: true });
        }
        result.versions.chromium = browser.version();
        for (let i = 0; i < o.participants; i++) { participants.push(new Participant(i, o, consoleLines)); }
        try {
            await Promise.all(participants.map(p => p.open(browser, baseUrl)));
        } catch (e) {
            throw Object.assign(e, { harness: true });
        }
        mark('pagesReady');

        // Connecting and camera/microphone in parallel; joining one by one, so that the first
        // participant is the first in the room (the moderator).
        await Promise.all(participants.map(p => p.connectAndCreateTracks()));
        mark('connectedWithTracks');
        for (const p of participants) {
            await p.join();
            p.timings.joined = Date.now() - started;
            await p.watchMedia();
        }
        mark('allJoined');
        result.libVersion = await participants[0].page.evaluate(() => window.M.libVersion);

        const reasons = result.reasons;
        const accepted = await Promise.all(participants.map(p => p.awaitAccepted()));
        reasons.push(...accepted.flat());
        if (reasons.length) { throw new Error(reasons.splice(0).join('; ')); }
        mark('allAccepted');
        await Promise.all(participants.map(p => p.awaitRemoteTracks(participants.filter(q => q !== p))));
        mark('allRemoteTracks');
        await Promise.all(participants.map(p => p.awaitTransport()));
        mark('allTransportsConnected');

        // Signalling has settled: nothing unanswered anywhere, and still every remote track
        // live (a source-remove/source-add cycle after the tracks first appeared would show here).
        await Promise.all(participants.map(p => p.awaitJingleQuiet()));
        await Promise.all(participants.map(p => p.awaitRemoteTracks(participants.filter(q => q !== p))));
        mark('settled');

        // Media goes through the bridge: every participant decodes every other's video and
        // receives its audio, and both keep rising.
        await Promise.all(participants.map(p => p.awaitMediaFlowing(participants.filter(q => q !== p))));
        mark('mediaFlowing');
        result.firstMedia = {};
        for (const p of participants) { result.firstMedia[p.label] = await p.firstMedia(); }

        // Attribution: every remote track belongs to another participant and carries an SSRC
        // that this participant announced for that media.
        const states = await Promise.all(participants.map(p => p.snapshot()));
        for (const s of states) {
            // Every Jingle request either way was answered with a result; no failure events.
            for (const j of s.jingle.filter(x => x.answer && x.answer.type !== 'result')) {
                reasons.push(`${s.label}: ${j.dir === 'out' ? 'the focus' : 'the client'} answered ${j.action} `
                    + `with ${j.answer.error}`);
            }
            for (const e of s.events.filter(x => /failed|error/i.test(x.name))) {
                reasons.push(`${s.label}: ${e.name} ${JSON.stringify(e.args).slice(0, 400)}`);
            }
            // No remote track came and went while everyone stayed.
            const removed = s.remote.filter(r => r.event === 'removed');
            if (removed.length) {
                reasons.push(`${s.label}: remote tracks removed while nobody left: ${JSON.stringify(removed)}`);
            }
        }
        reasons.push(...misattributed(states));
        for (const p of participants) {
            const remote = p.stats.pair.remote;
            if (remote.address !== '127.0.0.1' || (o.bridgePort !== null && remote.port !== o.bridgePort)) {
                reasons.push(`${p.label}: selected pair's remote candidate is ${remote.address}:${remote.port}, `
                    + `not the bridge 127.0.0.1:${o.bridgePort === null ? '*' : o.bridgePort}`);
            }
        }

        if (o.lateVideo !== null) {
            // The camera comes on after the session started: the client's own source-add.
            const late = participants[o.lateVideo];
            await late.addVideo();
            await late.waitFor(`${late.label} source-add answered`, () => window.M.jingle.some(j =>
                j.dir === 'out' && j.action === 'source-add' && j.answer));
            await Promise.all(participants.filter(p => p !== late).map(p => p.awaitRemoteTracks([ late ])));
            await Promise.all(participants.map(p => p.awaitJingleQuiet()));
            await Promise.all(participants.filter(p => p !== late).map(p => p.awaitMediaFlowing([ late ])));
            mark('lateVideo');
            const after = await Promise.all(participants.map(p => p.snapshot()));
            reasons.push(...misattributed(after));
            for (const st of after) {
                for (const j of st.jingle.filter(x => x.answer && x.answer.type !== 'result')) {
                    reasons.push(`${st.label}: ${j.action} answered with ${j.answer.error} (after the late video)`);
                }
                const removed = st.remote.filter(r => r.event === 'removed');
                if (removed.length) { reasons.push(`${st.label}: remote tracks removed: ${JSON.stringify(removed)}`); }
            }
            result.lateVideo = late.label;
        }

        if (o.muteAudioOf !== null) {
            // A moderator mutes a participant: the focus tells it and has the bridge drop its
            // audio (Colibri2 force-mute). The others must stop getting its audio packets
            // while its video keeps coming (so the connection is alive).
            const moderator = participants[0];
            const target = participants[o.muteAudioOf];
            await moderator.waitFor(`${moderator.label} is a moderator`, () => window.M.isModerator());
            const before = await Promise.all(participants.filter(p => p !== target).map(p =>
                p.page.evaluate(id => window.M.audioPacketsOf(id), target.endpointId)));
            await moderator.page.evaluate(id => window.M.muteAudioOf(id), target.endpointId);
            const listeners = participants.filter(p => p !== target);
            await Promise.all(listeners.map(p => p.waitFor(`${p.label}: the audio of ${target.label} stops`,
                ([ id ]) => window.M.audioStopped(id, 2000), [ target.endpointId ])));
            const after = await Promise.all(listeners.map(p =>
                p.page.evaluate(id => window.M.audioPacketsOf(id), target.endpointId)));
            result.muted = { target: target.label, targetId: target.endpointId,
                audioPacketsBefore: before, audioPacketsAfter: after };
            mark('audioMuted');
        }

        if (o.killPid !== null) {
            // The bridge dies: the focus must move everyone to another bridge, and media must
            // come back in new peer connections.
            const oldPc = {};
            for (const p of participants) {
                oldPc[p.label] = await p.page.evaluate(() => window.M.media.last && window.M.media.last.pcId);
            }
            process.kill(o.killPid, 'SIGKILL');
            const killedAt = Date.now();
            mark('bridgeKilled');
            const gaps = await Promise.all(participants.map(async p => {
                await p.awaitMediaFlowing(participants.filter(q => q !== p), oldPc[p.label], o.recoverMs);
                return [ p.label, Date.now() - killedAt ];
            }));
            result.recovery = { gapsMs: Object.fromEntries(gaps), maxMs: Math.max(...gaps.map(g => g[1])) };
            mark('mediaRecovered');
        }

        if (o.leaveIndex >= 0) {
            const leaver = participants[o.leaveIndex];
            result.leaver = leaver.label;
            const left = await leaver.leave();
            if (!left.left) { reasons.push(`${leaver.label}: CONFERENCE_LEFT did not fire (${JSON.stringify(left)})`); }
            const stay = participants.filter(p => p !== leaver);
            await Promise.all(stay.map(p => p.awaitRemoved(leaver)));
            mark('tracksRemoved');
        }
        result.ok = reasons.length === 0;
    } catch (e) {
        result.reasons.push(String(e && e.message || e));
        if (e && e.harness) { result.harnessError = String(e.message || e); }
    } finally {
        for (const p of participants) {
            if (p.page) { result.participants.push(await p.snapshot()); }
        }
        await Promise.all(participants.filter(p => p.page && p.left === null).map(p => p.leave()));
        for (const p of participants) { await p.close(); }
        if (browser) { await browser.close().catch(() => {}); }
        if (server) { server.close(); }
        clearTimeout(watchdog);
    }
    mark('total');
    const summary = participants.map(p => `${p.label}=${p.endpointId}`).join(' ');
    result.verdict = result.ok
        ? `PASS ${o.lib} x${o.participants}: accepted, remote tracks attributed, ICE+DTLS to the bridge, `
            + 'video decoded and audio received from everyone'
            + `${result.muted ? `, ${result.muted.target}'s audio stopped after a moderator mute` : ''}`
            + `${result.recovery ? `, media back ${result.recovery.maxMs} ms after the bridge was killed` : ''}`
            + `${o.leaveIndex >= 0 ? ', tracks removed on leave' : ''} (${summary}; ${timings.total} ms)`
        : `FAIL ${o.lib} x${o.participants}: ${result.reasons.join('; ')}`;
    exitCode = result.ok ? 0 : (result.harnessError ? 3 : 1);
    if (o.out) { fs.writeFileSync(o.out, JSON.stringify(result, null, 1)); }
    console.log(`${result.verdict}${o.out ? ` -> ${o.out}` : ''}`);
    return exitCode;
}

main().then(code => process.exit(code), e => {
    console.log(`FAIL harness error: ${e && e.stack || e}`);
    process.exit(3);
});
