#!/usr/bin/env node
/*
 * jitsi-reservations booking-page driver: opens the page a running `jitsi-reservations serve`
 * serves at / in headless Debian Chromium (playwright-core) and works through a plan of steps
 * the way an operator would: by the form's labels and the buttons' names.
 *
 * The management token comes from the environment (RESERVATIONS_TOKEN), never from the
 * command line, and the driver never copies it into its output: requests are recorded with
 * `authorization: "bearer-token" | "bearer-other" | "none"`, storage as booleans. Whatever
 * the page shows, sends or logs is recorded as it is, so the caller can check that the token
 * appears nowhere in it.
 *
 * Every step waits for what a person would wait for (page.waitForFunction on the DOM); nothing
 * sleeps. Exit codes: 0 every step held; 1 a step failed (incl. timeouts); 2 bad arguments;
 * 3 harness error (browser or page could not start). The last stdout line starts with PASS or
 * FAIL. See README.md ("Reservation page driver").
 */
'use strict';

const fs = require('fs');

const USAGE = `usage: RESERVATIONS_TOKEN=… node reservation-page-driver.js --url http://127.0.0.1:PORT/ --plan FILE [options]

  --url URL             the booking page (jitsi-reservations serve)
  --plan FILE           JSON: {"steps": [{"do": STEP, …}, …]} (see README.md)
  --time-zone TZ        the browser's own time zone (default: the system's)
  --timeout-ms N        budget for each awaited step (default 20000)
  --out FILE            write the JSON result there
  --chromium PATH       browser binary (default $CHROMIUM or /usr/bin/chromium)
  -h, --help            this text

steps:
  open                                  load the page
  signIn {token: right|wrong, expect: ok|refused}
  book {form: {room, timeZone, startDate, startTime, durationMinutes | endDate?, endTime,
        owners?, earlyJoinMinutes?, maxParticipants?, everyWeeks?, untilDate?, message?},
        expect: listed|error}
  expectConference {room, state: running|ended}   after pressing Refresh
  cancel {room}                         press the room's Cancel button and confirm
  showCancelled {on: true|false}
  reload | signOut | inspect
  screenshot {path}                     the whole page as a PNG (1280 wide)`;

const CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'
];

const VIEWPORT = { width: 1280, height: 720 };

/** A token the server does not know (long enough to be a token). */
const WRONG_TOKEN = 'not-the-token-0123456789abcdef';

class UsageError extends Error {}

class StepFailure extends Error {}

function parseArgs(argv) {
    const o = { url: null, plan: null, timeZone: null, timeoutMs: 20000, out: null,
        chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
    const valued = { '--url': 'url', '--plan': 'plan', '--time-zone': 'timeZone', '--timeout-ms': 'timeoutMs',
        '--out': 'out', '--chromium': 'chromium' };
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
    if (!o.url || !/^https?:\/\/[^/]+\/$/.test(o.url)) {
        throw new UsageError('--url is required: the page, http://HOST:PORT/');
    }
    if (!o.plan) { throw new UsageError('--plan is required'); }
    const n = Number(o.timeoutMs);
    if (!Number.isInteger(n) || n < 1) { throw new UsageError('--timeout-ms must be a positive integer'); }
    o.timeoutMs = n;
    let plan;
    try {
        plan = JSON.parse(fs.readFileSync(o.plan, 'utf8'));
    } catch (e) {
        throw new UsageError(`--plan ${o.plan}: ${e.message}`);
    }
    if (!plan || !Array.isArray(plan.steps) || plan.steps.length === 0) {
        throw new UsageError('the plan needs a non-empty "steps" array');
    }
    const known = [ 'open', 'signIn', 'book', 'expectConference', 'cancel', 'showCancelled', 'reload', 'signOut',
        'inspect', 'screenshot' ];
    for (const [ i, step ] of plan.steps.entries()) {
        if (!step || !known.includes(step.do)) { throw new UsageError(`step ${i + 1}: unknown "do": ${JSON.stringify(step)}`); }
    }
    o.steps = plan.steps;
    if (!process.env.RESERVATIONS_TOKEN) { throw new UsageError('RESERVATIONS_TOKEN is not set'); }
    return o;
}

// ------------------------------------------------------------------------------- page state
/** What the page shows, read from the DOM (evaluated in the page). */
function snapshotInPage() {
    const text = id => {
        const el = document.getElementById(id);
        return el ? el.textContent.trim() : null;
    };
    const shown = id => {
        const el = document.getElementById(id);
        return !!el && !el.hidden && el.getClientRects().length > 0;
    };
    const rows = (table, kind) => Array.from(document.querySelectorAll(`#${table} tbody tr`)).map(tr => {
        const cells = {};
        for (const td of tr.cells) {
            const key = td.className.split(' ')[0];
            // The zone line is a child span of the when cell: report it apart.
            const zone = td.querySelector('.zone');
            cells[key] = zone ? td.firstChild.textContent : td.textContent;
            if (zone) { cells.zone = zone.textContent; }
        }
        const elementsInData = Array.from(tr.cells).filter(td => !td.classList.contains('row-actions') && !td.classList.contains('when'))
            .reduce((n, td) => n + td.children.length, 0);
        const row = { room: tr.dataset.room, cells, elementsInData };
        if (kind === 'meetings') {
            row.id = Number(tr.dataset.meetingId);
            row.status = tr.dataset.status;
            row.cancelButton = tr.querySelector('button') ? tr.querySelector('button').getAttribute('aria-label') : null;
        } else {
            row.state = tr.dataset.state;
            row.meetingId = tr.dataset.meetingId === '' ? null : Number(tr.dataset.meetingId);
        }
        return row;
    });
    return {
        signInShown: shown('sign-in'),
        appShown: shown('app'),
        signInError: text('sign-in-error'),
        bookError: shown('book-error') ? text('book-error-text') : '',
        bookStatus: text('book-status'),
        listError: shown('list-error') ? text('list-error') : '',
        listStatus: text('list-status'),
        meetings: rows('meetings-table', 'meetings'),
        conferences: rows('conferences-table', 'conferences'),
        noMeetingsShown: shown('no-meetings'),
        renders: Number(document.body.dataset.renders || 0),
        scripts: document.scripts.length,
        injected: window.__injected === undefined ? null : String(window.__injected),
        title: document.title
    };
}

// ------------------------------------------------------------------------------------- run
class Run {
    constructor(o, result) {
        this.o = o;
        this.result = result;
        this.token = process.env.RESERVATIONS_TOKEN;
        this.page = null;
        this.expectedDialog = false;
        this.dialogs = [];
    }

    async start(browser) {
        const options = { viewport: VIEWPORT, locale: 'en-GB' };
        if (this.o.timeZone) { options.timezoneId = this.o.timeZone; }
        this.context = await browser.newContext(options);
        this.page = await this.context.newPage();
        const r = this.result;
        this.page.on('console', m => r.console.push(`[${m.type()}] ${m.text()}`));
        this.page.on('pageerror', e => r.pageErrors.push(String(e)));
        this.page.on('dialog', async d => {
            this.dialogs.push(d.message());
            if (this.expectedDialog) {
                this.expectedDialog = false;
                await d.accept();
            } else {
                r.reasons.push(`unexpected dialog: ${d.message()}`);
                await d.dismiss();
            }
        });
        this.page.on('request', req => {
            const url = new URL(req.url());
            const entry = { method: req.method(), path: url.pathname + url.search, origin: url.origin };
            if (url.href.includes(this.token)) { r.tokenInUrl = true; }
            if (url.pathname.includes('/api/')) {
                const auth = req.headers().authorization;
                entry.authorization = auth === undefined ? 'none' : (auth === `Bearer ${this.token}` ? 'bearer-token' : 'bearer-other');
                const body = req.postData();
                if (body !== null) { entry.body = body; }
            }
            r.requests.push(entry);
        });
        this.page.on('response', res => {
            const url = new URL(res.url());
            const entry = r.requests.slice().reverse().find(e => e.path === url.pathname + url.search && e.status === undefined);
            if (entry) { entry.status = res.status(); }
        });
    }

    snapshot() {
        return this.page.evaluate(snapshotInPage);
    }

    /** Waits until fn (in the page) is truthy; on timeout fails with what the page shows. */
    async waitFor(what, fn, arg) {
        try {
            const handle = await this.page.waitForFunction(fn, arg, { timeout: this.o.timeoutMs, polling: 100 });
            return handle.jsonValue();
        } catch (e) {
            const state = await this.snapshot().catch(err => String(err));
            throw new StepFailure(`${what}: not within ${this.o.timeoutMs} ms (${e.message.split('\n')[0]}); `
                + `page: ${JSON.stringify(state).slice(0, 3000)}`);
        }
    }

    label(text) {
        return this.page.getByLabel(text, { exact: true });
    }

    async renders() {
        return (await this.snapshot()).renders;
    }

    async awaitRendersAbove(what, n) {
        await this.waitFor(what, min => Number(document.body.dataset.renders || 0) > min, n);
    }

    // ------------------------------------------------------------------------------- steps
    async open() {
        const response = await this.page.goto(this.o.url, { timeout: this.o.timeoutMs });
        if (!response || response.status() !== 200) {
            throw new StepFailure(`${this.o.url} answered ${response ? response.status() : 'nothing'}`);
        }
        const headers = response.headers();
        this.result.pageHeaders = {
            contentType: headers['content-type'] || null,
            csp: headers['content-security-policy'] || null,
            referrerPolicy: headers['referrer-policy'] || null
        };
        await this.settled();
        return {};
    }

    /** The script ran and the page shows either the sign-in form or the (loaded) lists. */
    async settled() {
        await this.waitFor('the page ready', () => {
            const renders = Number(document.body.dataset.renders || 0);
            const signIn = !document.getElementById('sign-in').hidden;
            const app = !document.getElementById('app').hidden;
            return renders > 0 && (signIn || app);
        });
    }

    async signIn(step) {
        const token = step.token === 'wrong' ? WRONG_TOKEN : this.token;
        const before = await this.renders();
        await this.label('Management token').fill(token);
        await this.page.getByRole('button', { name: 'Sign in', exact: true }).click();
        if (step.expect === 'refused') {
            await this.waitFor('the sign-in refused', () => document.getElementById('sign-in-error').textContent.trim() !== ''
                || !document.getElementById('app').hidden);
            const s = await this.snapshot();
            if (s.appShown) { throw new StepFailure('signed in with the wrong token'); }
            return { error: s.signInError };
        }
        await this.waitFor('signed in', () => !document.getElementById('app').hidden
            || document.getElementById('sign-in-error').textContent.trim() !== '');
        const s = await this.snapshot();
        if (!s.appShown) { throw new StepFailure(`not signed in: ${s.signInError}`); }
        if (s.renders <= before) { throw new StepFailure('signed in but the lists were not drawn'); }
        return {};
    }

    async fillForm(f) {
        const set = async (label, value) => {
            await this.label(label).fill(value === undefined || value === null ? '' : String(value));
        };
        await set('Room', f.room);
        await set('Time zone', f.timeZone);
        await set('Start date', f.startDate);
        await set('Start time', f.startTime);
        if (f.endTime !== undefined) {
            await this.label('Until an end time').check();
            await set('End date', f.endDate);
            await set('End time', f.endTime);
        } else {
            await this.label('For a duration').check();
            await set('Duration in minutes', f.durationMinutes);
        }
        await set('Owners', f.owners);
        await set('Early join in minutes', f.earlyJoinMinutes === undefined ? 0 : f.earlyJoinMinutes);
        await set('Max participants', f.maxParticipants);
        await this.label('Repeat weekly').setChecked(f.everyWeeks !== undefined);
        if (f.everyWeeks !== undefined) {
            await set('Every how many weeks', f.everyWeeks);
            await set('Last meeting on', f.untilDate);
        }
        await set('Refusal text', f.message);
    }

    async book(step) {
        const before = await this.snapshot();
        const known = before.meetings.map(m => m.id);
        await this.fillForm(step.form || {});
        await this.page.getByRole('button', { name: 'Book meeting', exact: true }).click();
        // Either outcome ends the wait; the wrong one fails the step.
        await this.waitFor('the booking answered', ([ room, ids ]) => {
            const error = document.getElementById('book-error');
            if (!error.hidden && document.getElementById('book-error-text').textContent.trim() !== '') { return true; }
            return Array.from(document.querySelectorAll('#meetings-table tbody tr'))
                .some(tr => tr.dataset.room === room && !ids.includes(Number(tr.dataset.meetingId)));
        }, [ step.form.room, known ]);
        const s = await this.snapshot();
        const row = s.meetings.find(m => m.room === step.form.room && !known.includes(m.id));
        if (step.expect === 'error') {
            if (row) { throw new StepFailure(`booked meeting #${row.id} although an error was expected`); }
            return { error: s.bookError, bookStatus: s.bookStatus, rows: s.meetings.length };
        }
        if (!row) { throw new StepFailure(`not booked: ${s.bookError}`); }
        return { meeting: row, bookStatus: s.bookStatus };
    }

    async expectConference(step) {
        const before = await this.renders();
        await this.page.getByRole('button', { name: 'Refresh', exact: true }).click();
        await this.awaitRendersAbove('the lists redrawn', before);
        await this.waitFor(`a ${step.state} conference of ${step.room}`, ([ room, state ]) =>
            Array.from(document.querySelectorAll('#conferences-table tbody tr'))
                .some(tr => tr.dataset.room === room && tr.dataset.state === state), [ step.room, step.state ]);
        const s = await this.snapshot();
        return { conference: s.conferences.find(c => c.room === step.room && c.state === step.state) };
    }

    async cancel(step) {
        const s = await this.snapshot();
        const row = s.meetings.find(m => m.room === step.room && m.status === 'booked');
        if (!row) { throw new StepFailure(`no booked meeting of ${step.room} to cancel`); }
        const dialogs = this.dialogs.length;
        this.expectedDialog = true;
        await this.page.getByRole('button', { name: row.cancelButton, exact: true }).click();
        await this.waitFor(`meeting #${row.id} cancelled`, id => {
            const tr = document.querySelector(`#meetings-table tbody tr[data-meeting-id="${id}"]`);
            return (!tr || tr.dataset.status === 'cancelled') && document.getElementById('list-status').textContent !== '';
        }, row.id);
        const after = await this.snapshot();
        return { id: row.id, dialog: this.dialogs.slice(dialogs).join('\n'), listStatus: after.listStatus,
            stillListed: after.meetings.some(m => m.id === row.id) };
    }

    async showCancelled(step) {
        const before = await this.renders();
        await this.label('Show cancelled meetings').setChecked(step.on !== false);
        await this.awaitRendersAbove('the list redrawn', before);
        return {};
    }

    async reload() {
        await this.page.reload({ timeout: this.o.timeoutMs });
        await this.settled();
        // Signed in again from the tab's storage: wait for the lists too.
        if ((await this.snapshot()).appShown) {
            await this.waitFor('the lists loaded', () => document.querySelector('#meetings-table tbody tr') !== null
                || !document.getElementById('no-meetings').hidden || !document.getElementById('list-error').hidden);
        }
        return {};
    }

    async signOut() {
        await this.page.getByRole('button', { name: 'Sign out', exact: true }).click();
        await this.waitFor('signed out', () => !document.getElementById('sign-in').hidden);
        return {};
    }

    async inspect() {
        const storage = await this.page.evaluate(token => {
            const keys = s => Array.from({ length: s.length }, (_, i) => s.key(i));
            const session = keys(sessionStorage);
            return {
                sessionKeys: session,
                tokenInSessionStorage: session.some(k => sessionStorage.getItem(k) === token),
                localKeys: keys(localStorage),
                tokenInLocalStorage: keys(localStorage).some(k => localStorage.getItem(k).includes(token)),
                cookies: document.cookie,
                tokenInDom: document.documentElement.outerHTML.includes(token),
                url: location.href
            };
        }, this.token);
        return { storage };
    }

    async screenshot(step) {
        await this.page.screenshot({ path: step.path, fullPage: true });
        this.result.screenshot = step.path;
        return { path: step.path };
    }
}

// ------------------------------------------------------------------------------------ main
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
    const result = { ok: false, verdict: null, reasons: [], harnessError: null,
        args: { url: o.url, timeZone: o.timeZone, timeoutMs: o.timeoutMs }, steps: [], requests: [],
        tokenInUrl: false, pageHeaders: null, screenshot: null, console: [], pageErrors: [],
        versions: { node: process.version } };
    let browser = null;
    const watchdog = setTimeout(() => {
        console.log(`FAIL harness watchdog: driver still running after ${Date.now() - started} ms`);
        process.exit(3);
    }, o.timeoutMs * (o.steps.length + 2) + 30000);

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
        const run = new Run(o, result);
        await run.start(browser);
        for (const [ i, step ] of o.steps.entries()) {
            const t0 = Date.now();
            let out;
            try {
                out = await run[step.do](step);
            } catch (e) {
                throw new StepFailure(`step ${i + 1} (${step.do}): ${e.message}`);
            }
            const page = await run.snapshot();
            result.steps.push(Object.assign({ do: step.do, ms: Date.now() - t0 }, out, { page }));
            if (result.pageErrors.length) { throw new StepFailure(`step ${i + 1} (${step.do}): page error ${result.pageErrors[0]}`); }
            if (result.reasons.length) { break; }
        }
        result.ok = result.reasons.length === 0;
    } catch (e) {
        result.reasons.push(String(e && e.message || e));
        if (e && e.harness) { result.harnessError = String(e.message || e); }
    } finally {
        if (browser) { await browser.close().catch(() => {}); }
        clearTimeout(watchdog);
    }
    const ms = Date.now() - started;
    result.verdict = result.ok
        ? `PASS ${o.steps.length} steps: ${o.steps.map(s => s.do).join(', ')} (${ms} ms)`
        : `FAIL ${result.reasons.join('; ')}`;
    // Written as seen (the driver itself never copies the token into it), so that the caller
    // can check that the page leaked it nowhere.
    if (o.out) { fs.writeFileSync(o.out, JSON.stringify(result, null, 1)); }
    console.log(`${result.verdict}${o.out ? ` -> ${o.out}` : ''}`);
    return result.ok ? 0 : (result.harnessError ? 3 : 1);
}

main().then(code => process.exit(code), e => {
    console.log(`FAIL harness error: ${e && e.stack || e}`);
    process.exit(3);
});
