/*
 * The jitsi-reservations booking page: signs in with a management token (kept in this tab's
 * sessionStorage, sent only as `Authorization: Bearer …` to this server's management API under
 * api/v1/), lists meetings and conferences, books and cancels meetings.
 *
 * Everything that comes from the server is put into the page as text (textContent), never as
 * markup. Times are shown in each meeting's own time zone; the booking form's date and time
 * are read in the time zone chosen in the form and sent as RFC 3339 instants. Checking the
 * booking is the server's job: its 400 texts are shown next to the form as they are.
 *
 * For tests (tests/e2e/reservation-page-driver.js): <body data-renders="N"> counts how often
 * the lists were drawn; rows carry data-meeting-id, data-room, data-status (meetings) and
 * data-room, data-state (conferences).
 */
'use strict';

(() => {
    const TOKEN_KEY = 'jitsi-reservations.token';
    // Relative: the page also works behind a proxy that serves the server under a path.
    const API = 'api/v1/';

    const $ = id => document.getElementById(id);

    let token = null;
    let meetings = [];
    let conferences = [];
    let renders = 0;

    class FormProblem extends Error {}

    class ApiFailure extends Error {
        constructor(status, message) {
            super(message);
            this.status = status;
        }
    }

    // ------------------------------------------------------------------------------ time zones
    const formatters = new Map();

    function formatter(tz) {
        let f = formatters.get(tz);
        if (!f) {
            f = new Intl.DateTimeFormat('en-GB', {
                timeZone: tz, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit',
                day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit'
            });
            formatters.set(tz, f);
        }
        return f;
    }

    function knownZone(tz) {
        try {
            formatter(tz);
            return true;
        } catch (_) {
            return false;
        }
    }

    /** The wall-clock fields of the instant `ms` in `tz`. */
    function wall(tz, ms) {
        const p = {};
        for (const part of formatter(tz).formatToParts(new Date(ms))) { p[part.type] = part.value; }
        return {
            year: Number(p.year), month: Number(p.month), day: Number(p.day), hour: Number(p.hour) % 24,
            minute: Number(p.minute), second: Number(p.second), weekday: p.weekday
        };
    }

    /** Wall-clock fields read as if they were UTC, in milliseconds (any year, no 19xx quirk). */
    function wallAsUtc(w) {
        const d = new Date(0);
        d.setUTCFullYear(w.year, w.month - 1, w.day);
        d.setUTCHours(w.hour, w.minute, w.second || 0, 0);
        return d.getTime();
    }

    function offsetAt(tz, ms) {
        const whole = Math.floor(ms / 1000) * 1000;
        return wallAsUtc(wall(tz, whole)) - whole;
    }

    /**
     * The instant when the clocks in `tz` show `date` (YYYY-MM-DD) `time` (HH:MM): the earlier
     * one when the time happens twice (clocks turned back), NaN when it does not happen at all
     * (clocks turned forward).
     */
    function toInstant(tz, date, time) {
        const d = /^(\d{4,})-(\d{2})-(\d{2})$/.exec(date);
        const t = /^(\d{2}):(\d{2})(?::(\d{2}))?/.exec(time);
        if (!d || !t) { return NaN; }
        const local = wallAsUtc({ year: +d[1], month: +d[2], day: +d[3], hour: +t[1], minute: +t[2], second: 0 });
        const day = 24 * 3600 * 1000;
        const candidates = [local - day, local, local + day]
            .map(probe => local - offsetAt(tz, probe))
            .filter(ms => wallAsUtc(wall(tz, ms)) === local);
        return candidates.length ? Math.min(...candidates) : NaN;
    }

    /** RFC 3339 in UTC, whole seconds: 2026-12-01T13:00:00Z. */
    function rfc3339(ms) {
        return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    }

    const pad = (n, width = 2) => String(n).padStart(width, '0');
    const dateText = w => `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
    const timeText = w => `${pad(w.hour)}:${pad(w.minute)}${w.second ? `:${pad(w.second)}` : ''}`;
    const dayText = w => `${w.weekday} ${dateText(w)}`;

    /** A zone the browser can show times in: the given one, else UTC. */
    function displayZone(tz) {
        return tz && knownZone(tz) ? tz : 'UTC';
    }

    function zoneLabel(tz) {
        return displayZone(tz) === tz ? tz : `UTC (this browser does not know ${tz})`;
    }

    function when(m) {
        const tz = displayZone(m.time_zone);
        const s = wall(tz, Date.parse(m.start));
        const e = wall(tz, Date.parse(m.end));
        return dateText(s) === dateText(e)
            ? `${dayText(s)} ${timeText(s)}–${timeText(e)}`
            : `${dayText(s)} ${timeText(s)} – ${dayText(e)} ${timeText(e)}`;
    }

    function repeats(m) {
        if (!m.every_weeks) { return 'no'; }
        const every = m.every_weeks === 1 ? 'weekly' : `every ${m.every_weeks} weeks`;
        if (!m.until) { return every; }
        return `${every}, the last on ${dayText(wall(displayZone(m.time_zone), Date.parse(m.until)))}`;
    }

    function seconds(n) {
        if (!n) { return 'no'; }
        return n % 60 === 0 ? `${n / 60} min` : `${n} s`;
    }

    // ----------------------------------------------------------------------------------- API
    async function api(method, path, body) {
        const init = {
            method,
            headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
            cache: 'no-store',
            credentials: 'omit',
            referrerPolicy: 'no-referrer'
        };
        if (body !== undefined) {
            init.headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        let response;
        try {
            response = await fetch(API + path, init);
        } catch (e) {
            throw new ApiFailure(0, `The server did not answer (${e.message})`);
        }
        const text = await response.text();
        let json = null;
        try {
            json = text ? JSON.parse(text) : null;
        } catch (_) { /* not JSON: shown as text below */ }
        if (!response.ok) {
            const message = json && typeof json.message === 'string' && json.message
                ? json.message
                : `HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`;
            throw new ApiFailure(response.status, message);
        }
        return json;
    }

    async function load() {
        const [m, c] = await Promise.all([api('GET', 'meetings?all=true'), api('GET', 'conferences')]);
        meetings = Array.isArray(m) ? m : [];
        conferences = Array.isArray(c) ? c : [];
        render();
    }

    // ------------------------------------------------------------------------------ signing in
    function saveToken(value) {
        try {
            sessionStorage.setItem(TOKEN_KEY, value);
        } catch (_) { /* storage off: this page view only */ }
    }

    function savedToken() {
        try {
            return sessionStorage.getItem(TOKEN_KEY);
        } catch (_) {
            return null;
        }
    }

    function forgetToken() {
        try {
            sessionStorage.removeItem(TOKEN_KEY);
        } catch (_) { /* nothing kept */ }
    }

    function showSignIn(message) {
        token = null;
        meetings = [];
        conferences = [];
        render();
        $('app').hidden = true;
        $('sign-out').hidden = true;
        $('sign-in').hidden = false;
        $('sign-in-error').textContent = message || '';
        $('token').focus();
    }

    function showApp() {
        $('sign-in').hidden = true;
        $('sign-in-error').textContent = '';
        $('app').hidden = false;
        $('sign-out').hidden = false;
    }

    function signOut(message) {
        forgetToken();
        showSignIn(message);
    }

    /** A 401 while signed in (token removed from the configuration): back to the sign-in form. */
    function handleFailure(e, show) {
        if (e instanceof ApiFailure && e.status === 401) {
            signOut(`Signed out: ${e.message}`);
        } else {
            show(e instanceof Error ? e.message : String(e));
        }
    }

    async function onSignIn(event) {
        event.preventDefault();
        const candidate = $('token').value.trim();
        if (!candidate) {
            $('sign-in-error').textContent = 'Enter a management token.';
            return;
        }
        const button = $('sign-in-button');
        button.disabled = true;
        $('sign-in-error').textContent = '';
        token = candidate;
        try {
            await load();
        } catch (e) {
            token = null;
            $('sign-in-error').textContent = e instanceof Error ? e.message : String(e);
            return;
        } finally {
            button.disabled = false;
        }
        saveToken(candidate);
        $('token').value = '';
        showApp();
    }

    // --------------------------------------------------------------------------------- booking
    function numberField(id, label) {
        const el = $(id);
        if (el.validity && el.validity.badInput) { throw new FormProblem(`${label}: not a number`); }
        return el.value.trim() === '' ? null : Number(el.value);
    }

    /** A count the API takes as a whole number; whether it is in range is the server's call. */
    function wholeField(id, label) {
        const n = numberField(id, label);
        if (n !== null && !Number.isInteger(n)) { throw new FormProblem(`${label}: ${n} is not a whole number`); }
        return n;
    }

    function instantField(tz, date, time, what) {
        const ms = toInstant(tz, date, time);
        if (Number.isNaN(ms)) {
            throw new FormProblem(`${what}: ${date} ${time} does not exist in ${tz} (the clocks are turned forward then)`);
        }
        return rfc3339(ms);
    }

    /** The form as a MeetingInput of the management API. Only what is needed to convert the
     * times is checked here; everything else is the server's to judge. */
    function meetingInput() {
        const tz = $('time-zone').value.trim() || 'UTC';
        if (!knownZone(tz)) {
            throw new FormProblem(`time zone: this browser does not know «${tz}»; use an IANA name such as Europe/Berlin`);
        }
        const date = $('start-date').value;
        const time = $('start-time').value;
        if (!date || !time) { throw new FormProblem('start: give a start date and a start time'); }
        const input = {
            room: $('room').value.trim(),
            owners: $('owners').value.split(/[\s,;]+/).filter(o => o !== ''),
            start: instantField(tz, date, time, 'start'),
            time_zone: tz
        };
        if ($('length-end').checked) {
            const endTime = $('end-time').value;
            if (!endTime) { throw new FormProblem('end: give an end time (or a duration)'); }
            input.end = instantField(tz, $('end-date').value || date, endTime, 'end');
        } else {
            const minutes = numberField('duration', 'duration');
            if (minutes === null) { throw new FormProblem('duration: give the length in minutes (or an end time)'); }
            input.duration_seconds = Math.round(minutes * 60);
        }
        const early = numberField('early-join', 'early join');
        if (early !== null) { input.early_join_seconds = Math.round(early * 60); }
        const max = wholeField('max-participants', 'max participants');
        if (max !== null) { input.max_participants = max; }
        if ($('repeat').checked) {
            const weeks = wholeField('every-weeks', 'every how many weeks');
            input.every_weeks = weeks === null ? 1 : weeks;
            const until = $('until-date').value;
            if (until) { input.until = instantField(tz, until, time, 'last meeting'); }
        }
        const message = $('message').value;
        if (message.trim() !== '') { input.message = message; }
        return input;
    }

    function showBookError(text) {
        $('book-error-text').textContent = text;
        $('book-error').hidden = false;
    }

    function clearBookError() {
        $('book-error-text').textContent = '';
        $('book-error').hidden = true;
    }

    async function onBook(event) {
        event.preventDefault();
        clearBookError();
        $('book-status').textContent = '';
        let input;
        try {
            input = meetingInput();
        } catch (e) {
            if (e instanceof FormProblem) {
                showBookError(e.message);
                return;
            }
            throw e;
        }
        const button = $('book-button');
        button.disabled = true;
        $('book-status').textContent = 'Booking…';
        try {
            const m = await api('POST', 'meetings', input);
            $('book-status').textContent = `Booked meeting #${m.id} for room «${m.room}».`;
            await load().catch(e => handleFailure(e, showListError));
        } catch (e) {
            $('book-status').textContent = '';
            handleFailure(e, showBookError);
        } finally {
            button.disabled = false;
        }
    }

    async function cancelMeeting(m) {
        const question = `Cancel meeting #${m.id} for room «${m.room}» (${when(m)}, ${m.time_zone})? `
            + 'It stays in the list of cancelled meetings.';
        if (!window.confirm(question)) { return; }
        clearListMessages();
        try {
            await api('DELETE', `meetings/${encodeURIComponent(m.id)}`);
            $('list-status').textContent = `Cancelled meeting #${m.id} for room «${m.room}».`;
            await load();
        } catch (e) {
            handleFailure(e, showListError);
        }
    }

    // ------------------------------------------------------------------------------- rendering
    function showListError(text) {
        $('list-error').textContent = text;
        $('list-error').hidden = false;
    }

    function clearListMessages() {
        $('list-error').textContent = '';
        $('list-error').hidden = true;
        $('list-status').textContent = '';
    }

    function cell(row, text, className) {
        const td = document.createElement('td');
        td.textContent = text;
        if (className) { td.className = className; }
        row.appendChild(td);
        return td;
    }

    function meetingRow(m) {
        const tr = document.createElement('tr');
        tr.dataset.meetingId = String(m.id);
        tr.dataset.room = m.room;
        tr.dataset.status = m.cancelled ? 'cancelled' : 'booked';
        if (m.cancelled) { tr.className = 'cancelled'; }
        cell(tr, `#${m.id}`, 'num');
        cell(tr, m.room, 'room');
        const whenCell = cell(tr, when(m), 'when');
        const zone = document.createElement('span');
        zone.className = 'zone';
        zone.textContent = zoneLabel(m.time_zone);
        whenCell.appendChild(zone);
        cell(tr, repeats(m), 'repeats');
        cell(tr, m.owners.length ? m.owners.join(', ') : 'anyone', 'owners');
        cell(tr, seconds(m.early_join_seconds), 'early');
        cell(tr, m.max_participants ? String(m.max_participants) : 'no limit', 'max');
        if (m.message) {
            cell(tr, m.message, 'message');
        } else {
            cell(tr, 'generated', 'message muted');
        }
        cell(tr, m.cancelled ? 'cancelled' : 'booked', 'status');
        const actions = cell(tr, '', 'row-actions');
        if (!m.cancelled) {
            const button = document.createElement('button');
            button.type = 'button';
            button.className = 'danger';
            button.textContent = 'Cancel';
            button.setAttribute('aria-label', `Cancel meeting #${m.id} for room ${m.room}`);
            button.addEventListener('click', () => cancelMeeting(m));
            actions.appendChild(button);
        }
        return tr;
    }

    function conferenceRow(c, zones) {
        const tr = document.createElement('tr');
        const running = !c.ended_at;
        tr.dataset.room = c.room;
        tr.dataset.state = running ? 'running' : 'ended';
        tr.dataset.meetingId = c.meeting_id === null || c.meeting_id === undefined ? '' : String(c.meeting_id);
        if (!running) { tr.className = 'ended'; }
        const tz = displayZone(zones.get(c.meeting_id) || 'UTC');
        const started = Date.parse(c.started_at);
        // Minutes are precise enough here (the seconds are those of whoever opened the room).
        const s = wall(tz, started);
        const at = (ms, w = wall(tz, ms)) =>
            `${dateText(w) === dateText(s) ? '' : `${dayText(w)} `}${pad(w.hour)}:${pad(w.minute)}`;
        cell(tr, c.room, 'room');
        cell(tr, running ? 'running' : 'ended', 'state');
        cell(tr, c.meeting_id ? `#${c.meeting_id}` : 'none (ad hoc)', 'meeting');
        cell(tr, c.mail_owner || 'unknown', 'owner');
        cell(tr, `${dayText(s)} ${pad(s.hour)}:${pad(s.minute)} (${tz})`, 'started');
        let end;
        if (!running) {
            end = `ended ${at(Date.parse(c.ended_at))}`;
        } else if (c.duration_seconds) {
            // The duration runs to the meeting's end from the second the room opened: round.
            const minute = 60 * 1000;
            end = `ends by ${at(Math.round((started + c.duration_seconds * 1000) / minute) * minute)}`;
        } else {
            end = 'no end set';
        }
        cell(tr, end, 'end');
        cell(tr, c.max_occupants ? String(c.max_occupants) : 'no limit', 'max');
        return tr;
    }

    function render() {
        const showCancelled = $('show-cancelled').checked;
        const shown = meetings.filter(m => showCancelled || !m.cancelled);
        $('meetings-table').tBodies[0].replaceChildren(...shown.map(meetingRow));
        $('meetings-table').hidden = shown.length === 0;
        $('no-meetings').hidden = shown.length !== 0 || token === null;
        const zones = new Map(meetings.map(m => [m.id, m.time_zone]));
        const ordered = conferences.filter(c => !c.ended_at).concat(conferences.filter(c => c.ended_at));
        $('conferences-table').tBodies[0].replaceChildren(...ordered.map(c => conferenceRow(c, zones)));
        $('conferences-table').hidden = ordered.length === 0;
        $('no-conferences').hidden = ordered.length !== 0 || token === null;
        renders += 1;
        document.body.dataset.renders = String(renders);
    }

    // ------------------------------------------------------------------------------------ form
    function syncForm() {
        const byEnd = $('length-end').checked;
        $('duration').disabled = byEnd;
        $('end-date').disabled = !byEnd;
        $('end-time').disabled = !byEnd;
        const repeat = $('repeat').checked;
        $('every-weeks').disabled = !repeat;
        $('until-date').disabled = !repeat;
    }

    /** The next quarter hour in the browser's time zone, as a suggestion. */
    function prefill(tz) {
        const quarter = 15 * 60 * 1000;
        const w = wall(tz, Math.ceil(Date.now() / quarter) * quarter);
        $('start-date').value = dateText(w);
        $('start-time').value = timeText(w);
    }

    function init() {
        let zones = [];
        try {
            zones = Intl.supportedValuesOf('timeZone');
        } catch (_) { /* an old browser: free text only */ }
        if (!zones.includes('UTC')) { zones = ['UTC', ...zones]; }
        $('time-zones').replaceChildren(...zones.map(z => {
            const option = document.createElement('option');
            option.value = z;
            return option;
        }));
        const here = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
        $('time-zone').value = knownZone(here) ? here : 'UTC';
        prefill($('time-zone').value);
        syncForm();

        $('token-form').addEventListener('submit', onSignIn);
        $('book-form').addEventListener('submit', onBook);
        $('length-duration').addEventListener('change', syncForm);
        $('length-end').addEventListener('change', syncForm);
        $('repeat').addEventListener('change', syncForm);
        $('show-cancelled').addEventListener('change', render);
        $('sign-out').addEventListener('click', () => signOut('Signed out.'));
        $('refresh').addEventListener('click', () => {
            clearListMessages();
            load().catch(e => handleFailure(e, showListError));
        });

        token = savedToken();
        if (!token) {
            showSignIn('');
            return;
        }
        showApp();
        load().catch(e => handleFailure(e, showListError));
    }

    init();
})();
