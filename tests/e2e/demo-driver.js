#!/usr/bin/env node
/*
 * jitsi-focus demo-page driver: opens the demo conference page (demo/, served by
 * demo/server.js) in N tabs of one headless Debian Chromium (playwright-core, fake camera and
 * microphone), one isolated browser context per tab, and checks what a person would see.
 *
 * Call (default): the tabs join one after the other; then every tab must show exactly one
 * remote tile per other tab whose <video> plays and presents frames, a count that keeps
 * rising, and list every other tab's participant. With --screenshot the first tab is saved
 * as a PNG (1280x720). Then the last tab leaves, and the first must drop its tile and its list
 * entry.
 *
 * Refusal (--expect-error TEXT): every tab must show TEXT in its error list without joining
 * (and --screenshot saves the first tab then).
 *
 * Everything is awaited with page.waitForFunction on window.DEMO (see demo/demo.js); nothing
 * sleeps. Exit codes: 0 all checks held; 1 a check failed (incl. timeouts); 2 bad arguments;
 * 3 harness error (browser or page could not start). The last stdout line starts with PASS or
 * FAIL. See README.md ("Demo driver").
 */
'use strict';

const fs = require('fs');

const USAGE = `usage: node demo-driver.js --url http://127.0.0.1:PORT/ROOM [options]

  --url URL             the demo conference page of one room (demo/server.js)
  --tabs N              how many tabs open it (default 2; 1 only with --expect-error)
  --expect-error TEXT   the tabs must show TEXT as an error and not join (e.g. a reservation refusal)
  --screenshot FILE     save the first tab as a PNG (1280x720) once every video plays, or once
                        the expected error shows
  --timeout-ms N        budget for each awaited step (default 30000)
  --out FILE            write the JSON result there
  --chromium PATH       browser binary (default $CHROMIUM or /usr/bin/chromium)
  -h, --help            this text`;

// The e2e recipe's flags plus fake media devices, as tests/e2e/media-driver.js uses them.
const CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    // Without it Chromium gathers no 127.0.0.1 candidate and cannot reach a loopback bridge.
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns'
];

const VIEWPORT = { width: 1280, height: 720 };

class UsageError extends Error {}

function parseArgs(argv) {
    const o = { url: null, tabs: 2, expectError: null, screenshot: null, timeoutMs: 30000, out: null,
        chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
    const valued = { '--url': 'url', '--tabs': 'tabs', '--expect-error': 'expectError',
        '--screenshot': 'screenshot', '--timeout-ms': 'timeoutMs', '--out': 'out', '--chromium': 'chromium' };
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
    if (!o.url) { throw new UsageError('--url is required'); }
    if (!/^https?:\/\/[^/]+\/[a-z0-9._-]+$/.test(o.url)) {
        throw new UsageError('--url must be a room page, http://HOST:PORT/ROOM (lower case)');
    }
    for (const k of [ 'tabs', 'timeoutMs' ]) {
        const n = Number(o[k]);
        if (!Number.isInteger(n) || n < 1) { throw new UsageError(`--${k} must be a positive integer`); }
        o[k] = n;
    }
    if (o.expectError === null && o.tabs < 2) { throw new UsageError('a call needs --tabs 2 or more'); }
    return o;
}

// ------------------------------------------------------------------------------------------ tab
class Tab {
    constructor(index, opts, consoleSink) {
        this.index = index;
        this.label = `tab${index + 1}`;
        this.opts = opts;
        this.console = consoleSink;
        this.context = null;
        this.page = null;
        this.endpointId = null;
    }

    async open(browser) {
        // One context each: lib-jitsi-meet keeps machine-uid and the focus session-id in
        // localStorage, so two pages of one context would look like one user to the focus.
        this.context = await browser.newContext({ viewport: VIEWPORT });
        // A recognisable display name (the page keeps the name in localStorage).
        await this.context.addInitScript(name => {
            try { localStorage.setItem('demo.displayName', name); } catch (_) { /* storage off */ }
        }, `Tab ${this.index + 1}`);
        this.page = await this.context.newPage();
        this.page.on('console', m => this.console.push(`[${this.label}] [${m.type()}] ${m.text()}`));
        this.page.on('pageerror', e => this.console.push(`[${this.label}] [pageerror] ${e}`));
        const response = await this.page.goto(this.opts.url, { timeout: this.opts.timeoutMs });
        if (!response || response.status() !== 200) {
            throw new Error(`${this.label}: ${this.opts.url} answered ${response ? response.status() : 'nothing'}`);
        }
        await this.page.waitForFunction(() => window.DEMO && typeof window.DEMO.snapshot === 'function', null,
            { timeout: this.opts.timeoutMs });
    }

    snapshot() {
        return this.page.evaluate(() => window.DEMO.snapshot());
    }

    // Waits until fn (evaluated in the page) is truthy; on timeout fails with the page state.
    async waitFor(what, fn, arg) {
        try {
            const handle = await this.page.waitForFunction(fn, arg, { timeout: this.opts.timeoutMs, polling: 100 });
            return handle.jsonValue();
        } catch (e) {
            const state = await this.snapshot().catch(err => String(err));
            throw new Error(`${this.label} ${what}: not within ${this.opts.timeoutMs} ms `
                + `(${e.message.split('\n')[0]}); page: ${JSON.stringify(state).slice(0, 2000)}`);
        }
    }

    async awaitJoined() {
        await this.waitFor('joined', () => window.DEMO.joined || window.DEMO.phase === 'failed');
        const s = await this.snapshot();
        if (!s.joined) { throw new Error(`${this.label} did not join: ${s.errors.join('; ')}`); }
        this.endpointId = s.endpointId;
    }

    // Exactly one tile per other participant, each playing with frames presented, each listed.
    async awaitRemoteVideo(others) {
        await this.waitFor(`remote video of ${others.join(', ')}`, ids => {
            const s = window.DEMO.snapshot();
            return s.tiles.length === ids.length && ids.every(id =>
                s.tiles.some(t => t.participantId === id && t.playing && t.framesPresented > 0)
                && s.participants.some(p => p.id === id && !p.me));
        }, others);
    }

    // The frame counts now, then a wait until every one of them has risen.
    async awaitFramesRising() {
        const before = await this.page.evaluate(() => window.DEMO.snapshot().tiles.map(t => t.framesPresented));
        await this.waitFor('remote frames rising', counts => {
            const tiles = window.DEMO.snapshot().tiles;
            return tiles.length === counts.length && tiles.every((t, i) => t.framesPresented > counts[i]);
        }, before);
        const after = await this.page.evaluate(() => window.DEMO.snapshot().tiles.map(t => t.framesPresented));
        return { before: Math.min(...before), after: Math.min(...after) };
    }

    async leave() {
        await this.page.click('#leave', { timeout: this.opts.timeoutMs });
        await this.waitFor('left', () => window.DEMO.phase === 'left' && window.DEMO.snapshot().tiles.length === 0);
    }

    async close() {
        if (this.context) { await this.context.close().catch(() => {}); this.context = null; }
    }
}

// ------------------------------------------------------------------------------------ scenarios
async function call(browser, tabs, o, result) {
    const reasons = result.reasons;
    // One after the other: the first is alone in the room when the second arrives.
    for (const tab of tabs) {
        await tab.open(browser);
        await tab.awaitJoined();
    }
    for (const tab of tabs) {
        const others = tabs.filter(t => t !== tab).map(t => t.endpointId);
        await tab.awaitRemoteVideo(others);
    }
    const frames = [];
    for (const tab of tabs) { frames.push(await tab.awaitFramesRising()); }
    // The local preview too, so that the screenshot shows both pictures.
    await tabs[0].waitFor('local preview playing', () => window.DEMO.snapshot().local.framesPresented > 0);

    for (const [ i, tab ] of tabs.entries()) {
        const call = await tab.snapshot();
        const remote = call.tiles.map(t => t.firstFrameMs);
        const first = Math.min(...remote);
        const tile = call.tiles.find(t => t.firstFrameMs === first);
        result.tabs.push({ label: tab.label, call, framesBefore: frames[i].before, framesAfter: frames[i].after,
            firstRemoteFrameAfterJoinMs: first - call.timings.joined,
            firstRemoteFrameAfterTileMs: first - tile.createdMs });
        if (call.errors.length) { reasons.push(`${tab.label} shows errors: ${call.errors.join('; ')}`); }
    }
    if (o.screenshot) {
        await tabs[0].page.screenshot({ path: o.screenshot });
        result.screenshot = o.screenshot;
    }

    // The last tab leaves: the first drops its tile and its list entry.
    const leaver = tabs[tabs.length - 1];
    await leaver.leave();
    await tabs[0].waitFor(`${leaver.label} gone`, id => {
        const s = window.DEMO.snapshot();
        return !s.tiles.some(t => t.participantId === id) && !s.participants.some(p => p.id === id);
    }, leaver.endpointId);
    result.afterLeave = await tabs[0].snapshot();
    for (const tab of tabs.slice(0, -1)) { await tab.leave(); }
}

async function refusal(browser, tabs, o, result) {
    for (const tab of tabs) {
        await tab.open(browser);
        await tab.waitFor('the expected error', text => document.getElementById('errors').innerText.includes(text)
            || window.DEMO.joined, o.expectError);
        const state = await tab.snapshot();
        const errorText = await tab.page.evaluate(() => document.getElementById('errors').innerText);
        result.tabs.push({ label: tab.label, state, errorText });
        if (state.joined) { result.reasons.push(`${tab.label} joined instead of showing the error`); }
    }
    if (o.screenshot) {
        await tabs[0].page.screenshot({ path: o.screenshot });
        result.screenshot = o.screenshot;
    }
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
    const result = { ok: false, verdict: null, reasons: [], harnessError: null, args: o, tabs: [],
        afterLeave: null, screenshot: null, console: consoleLines, versions: { node: process.version } };
    let browser = null;
    const tabs = [];
    const watchdog = setTimeout(() => {
        console.log(`FAIL harness watchdog: driver still running after ${Date.now() - started} ms`);
        process.exit(3);
    }, o.timeoutMs * 8 + 60000);

    try {
        let chromium;
        try {
            ({ chromium } = require('playwright-core'));
            result.versions.playwright = require('playwright-core/package.json').version;
        } catch (e) {
            throw Object.assign(new Error(`playwright-core missing: run scripts/install-deps.sh (${e.message})`),
                { harness: true });
        }
        try {
            browser = await chromium.launch({ executablePath: o.chromium, headless: true, args: CHROMIUM_ARGS });
        } catch (e) {
            throw Object.assign(new Error(`Chromium did not start: ${e.message}`), { harness: true });
        }
        result.versions.chromium = browser.version();
        for (let i = 0; i < o.tabs; i++) { tabs.push(new Tab(i, o, consoleLines)); }
        await (o.expectError === null ? call : refusal)(browser, tabs, o, result);
        result.ok = result.reasons.length === 0;
    } catch (e) {
        result.reasons.push(String(e && e.message || e));
        if (e && e.harness) { result.harnessError = String(e.message || e); }
    } finally {
        // Leave what is still in the room, so that no ghost participant stays behind.
        await Promise.all(tabs.filter(t => t.page).map(t => t.page.evaluate(() => {
            const leave = document.getElementById('leave');
            if (leave && !leave.disabled) { leave.click(); }
        }).catch(() => {})));
        for (const tab of tabs) { await tab.close(); }
        if (browser) { await browser.close().catch(() => {}); }
        clearTimeout(watchdog);
    }
    const ms = Date.now() - started;
    if (result.ok && o.expectError === null) {
        const firsts = result.tabs.map(t => `${t.label} ${t.firstRemoteFrameAfterJoinMs} ms`).join(', ');
        result.verdict = `PASS ${o.tabs} tabs: each plays the others' video (frames rising) and lists them; `
            + `first remote frame after joining: ${firsts}${o.screenshot ? `; screenshot ${o.screenshot}` : ''} (${ms} ms)`;
    } else if (result.ok) {
        result.verdict = `PASS ${o.tabs} tab(s) show the error ${JSON.stringify(o.expectError)} (${ms} ms)`;
    } else {
        result.verdict = `FAIL ${result.reasons.join('; ')}`;
    }
    if (o.out) { fs.writeFileSync(o.out, JSON.stringify(result, null, 1)); }
    console.log(`${result.verdict}${o.out ? ` -> ${o.out}` : ''}`);
    return result.ok ? 0 : (result.harnessError ? 3 : 1);
}

main().then(code => process.exit(code), e => {
    console.log(`FAIL harness error: ${e && e.stack || e}`);
    process.exit(3);
});
