/*
 * jitsi-focus e2e test client.
 *
 * Runs inside headless Chromium next to lib-jitsi-meet (global JitsiMeetJS) and jQuery (global $).
 * The driver (../driver.js) calls the API below through page.evaluate and polls window.E2E.state()
 * with page.waitForFunction. Nothing here sleeps; everything is recorded as it happens.
 *
 *   E2E.connect({ serviceUrl, domain, muc, focus, anonymousDomain, focusUserJid, recordXmpp })
 *   E2E.join(room, extraConferenceOptions)
 *   E2E.login(id, password)          conference.authenticateAndUpgradeRole({ id, password, onLoginSuccessful })
 *   E2E.leave(timeoutMs)             conference.leave() then connection.disconnect(), bounded
 *   E2E.state()                      JSON snapshot: events, xmpp, role, members, login, errors ...
 *
 * No local tracks are ever created, so no getUserMedia shim is needed.
 */
(function () {
    'use strict';

    const t0 = performance.now();
    const now = () => Math.round(performance.now() - t0);

    const E2E = window.E2E = {
        ready: false,          // libraries loaded and JitsiMeetJS.init() done
        libVersion: null,
        config: null,
        events: [],            // { t, seq, source: 'connection'|'conference'|'e2e', name, args }
        xmpp: [],              // { t, dir: 'in'|'out', conn: label, xml }
        errors: [],            // uncaught page errors and rejected promises
        loginStatus: null,     // null | { state: 'pending'|'logged_in'|'resolved'|'rejected', id, error? }
        leaveStatus: null,     // null | { state: 'pending'|'done', left: bool, error }
        connection: null,      // null | 'established' | 'failed' | 'disconnected'
        conn: null,
        conf: null
    };
    let seq = 0;

    // ----------------------------------------------------------------------------------- recording
    function describe(value, depth, seen) {
        if (value === null || value === undefined) { return value === undefined ? null : value; }
        const type = typeof value;
        if (type === 'string' || type === 'number' || type === 'boolean') { return value; }
        if (type === 'function') { return '[function]'; }
        if (type !== 'object') { return String(value); }
        if (value.nodeType === 1) { return value.outerHTML; }
        if (value.nodeType) { return String(value.textContent); }
        if (value instanceof Error) { return { error: value.name, message: value.message }; }
        if (typeof value.getId === 'function' && typeof value.getRole === 'function') {
            // JitsiParticipant
            return { participant: value.getId(), role: value.getRole(),
                displayName: value.getDisplayName ? value.getDisplayName() || null : null,
                jid: value.getJid ? value.getJid() : null };
        }
        if (seen.has(value)) { return '[cycle]'; }
        if (depth > 4) { return '[deep]'; }
        seen.add(value);
        if (Array.isArray(value)) { return value.map(v => describe(v, depth + 1, seen)); }
        const ctor = value.constructor && value.constructor.name;
        if (ctor && ctor !== 'Object') { return `[${ctor}]`; }
        const out = {};
        for (const k of Object.keys(value)) { out[k] = describe(value[k], depth + 1, seen); }
        return out;
    }
    const plain = v => describe(v, 0, new WeakSet());

    function record(source, name, args) {
        const e = { t: now(), seq: seq++, source, name, args: plain(args || []) };
        E2E.events.push(e);
        const log = document.getElementById('log');
        if (log) { log.textContent += `${e.t} ${source} ${name} ${JSON.stringify(e.args).slice(0, 200)}\n`; }
        return e;
    }
    E2E.record = record;

    window.addEventListener('error', e => E2E.errors.push(`error: ${e.message}`));
    window.addEventListener('unhandledrejection', e => E2E.errors.push(`unhandledrejection: ${plainText(e.reason)}`));
    function plainText(v) { try { return JSON.stringify(plain(v)); } catch (_) { return String(v); } }

    // Raw XMPP traffic of every Strophe connection the library opens, including the second (login)
    // connection of authenticateAndUpgradeRole, which the page never gets a handle on. The bundle's
    // Strophe is also window.Strophe. Strophe calls xmlInput on incoming data only when the
    // connection's xmlInput differs from Strophe.Connection.prototype.xmlInput, so patching the
    // prototype is not enough: connect() is wrapped to install per-instance hooks instead.
    let stropheHooked = false;
    function hookStropheGlobally() {
        const S = window.Strophe;
        const proto = S && S.Connection && S.Connection.prototype;
        if (!proto || typeof proto.connect !== 'function') { return false; }
        const connect = proto.connect;
        proto.connect = function (...args) {
            hookConnection(this);
            return connect.apply(this, args);
        };
        return true;
    }
    function hookConnection(sc) {
        if (sc.__e2eHooked) { return; }
        sc.__e2eHooked = true;
        sc.xmlInput = el => recordXml('in', sc, el);
        sc.xmlOutput = el => recordXml('out', sc, el);
    }
    function recordXml(dir, sc, el) {
        if (E2E.config && E2E.config.recordXmpp === false) { return; }
        let xml = el && el.outerHTML;
        // SASL PLAIN carries base64(user\0password): keep the password of --login out of results.
        if (xml && dir === 'out' && xml.indexOf('urn:ietf:params:xml:ns:xmpp-sasl') >= 0) {
            xml = xml.replace(/(<auth\b[^>]*mechanism="PLAIN"[^>]*>)[^<]*(<\/auth>)/, '$1[redacted]$2');
        }
        E2E.xmpp.push({ t: now(), dir, conn: (sc && sc.jid) || '?', xml });
    }

    // ----------------------------------------------------------------------------------- snapshot
    function roleOf(conf) {
        try { return conf ? conf.getRole() || null : null; } catch (_) { return null; }
    }
    function isModerator(conf) {
        try { return conf ? conf.isModerator() : null; } catch (_) { return null; }
    }
    // This lib-jitsi-meet reports the LOCAL role as the MUC role only when the affiliation is
    // 'owner' and as 'none' otherwise (ChatRoom.onPresence). So the local user is 'moderator' iff
    // the focus made it an owner; any other joined user is called 'participant' here.
    function normalizedRole(conf) {
        if (!conf || !conf.isJoined || !conf.isJoined()) { return null; }
        return isModerator(conf) ? 'moderator' : 'participant';
    }
    E2E.role = () => normalizedRole(E2E.conf);
    // The local occupant's own MUC item (role, affiliation) from the last self-presence received.
    function selfMuc(conf) {
        const me = conf && conf.room && conf.room.myroomjid;
        if (!me) { return null; }
        let found = null;
        const parser = new DOMParser();
        for (const x of E2E.xmpp) {
            if (x.dir !== 'in' || !x.xml || x.xml.indexOf('presence') < 0) { continue; }
            const doc = parser.parseFromString(x.xml, 'text/xml');
            for (const p of doc.getElementsByTagName('presence')) {
                if (p.getAttribute('from') !== me) { continue; }
                const item = p.getElementsByTagName('item')[0];
                found = { type: p.getAttribute('type') || 'available',
                    role: item ? item.getAttribute('role') : null,
                    affiliation: item ? item.getAttribute('affiliation') : null };
            }
        }
        return found;
    }
    function members(conf) {
        // Remote participants as the library exposes them (the focus is hidden from this list).
        try {
            return conf.getParticipants().map(p => ({
                id: p.getId(), role: p.getRole(), isModerator: p.isModerator(),
                displayName: p.getDisplayName() || null, jid: p.getJid()
            }));
        } catch (_) { return []; }
    }
    function roomMembers(conf) {
        // Raw MUC occupants seen by the ChatRoom, including the focus (isFocus is decided by the
        // library from the occupant's real JID: it must start with '<focusUserJid>/').
        const room = conf && conf.room;
        if (!room || !room.members) { return []; }
        return Object.keys(room.members).map(occupant => {
            const m = room.members[occupant];
            return { occupant, nick: m.nick || null, jid: m.jid || null, role: m.role || null,
                affiliation: m.affiliation || null, isFocus: !!m.isFocus, isHiddenDomain: !!m.isHiddenDomain };
        });
    }

    E2E.state = function () {
        const conf = E2E.conf;
        const room = conf && conf.room;
        return {
            ready: E2E.ready,
            libVersion: E2E.libVersion,
            connection: E2E.connection,
            joined: !!(conf && conf.isJoined && conf.isJoined()),
            myUserId: conf && conf.myUserId ? conf.myUserId() || null : null,
            myRoomJid: room ? room.myroomjid || null : null,
            role: normalizedRole(conf),
            rawRole: roleOf(conf),
            isModerator: isModerator(conf),
            selfMuc: selfMuc(conf),
            members: members(conf),
            roomMembers: roomMembers(conf),
            focusJid: room && room.moderator ? room.moderator.focusUserJid || null : null,
            login: E2E.loginStatus,
            leave: E2E.leaveStatus,
            errors: E2E.errors.slice(),
            events: E2E.events.slice(),
            xmpp: E2E.xmpp.slice()
        };
    };

    // Compact view for polling; the driver fetches the full state only at the end.
    E2E.brief = function () {
        const conf = E2E.conf;
        return {
            connection: E2E.connection,
            role: normalizedRole(conf),
            rawRole: roleOf(conf),
            isModerator: isModerator(conf),
            login: E2E.loginStatus,
            leave: E2E.leaveStatus,
            events: E2E.events.map(e => ({ seq: e.seq, source: e.source, name: e.name, args: e.args }))
        };
    };

    // ----------------------------------------------------------------------------------- actions
    E2E.connect = function (cfg) {
        const JMJS = window.JitsiMeetJS;
        if (E2E.conn) { throw new Error('E2E.connect called twice'); }
        E2E.config = Object.assign({
            domain: 'meet.test', muc: 'conference.meet.test', focus: 'focus.meet.test', recordXmpp: true
        }, cfg);
        const c = E2E.config;
        if (!c.serviceUrl) { throw new Error('E2E.connect: serviceUrl is required'); }
        const hosts = { domain: c.domain, muc: c.muc, focus: c.focus };
        if (c.anonymousDomain) { hosts.anonymousdomain = c.anonymousDomain; }
        const options = {
            hosts,
            // serviceUrl works for both transports: http(s):// is BOSH, ws(s):// is WebSocket.
            serviceUrl: c.serviceUrl,
            clientNode: 'http://jitsi.org/jitsimeet'
        };
        if (c.focusUserJid) { options.focusUserJid = c.focusUserJid; }
        const conn = E2E.conn = new JMJS.JitsiConnection(null, null, options);
        if (!stropheHooked) {
            // Fallback when Strophe is not global: hook only this connection.
            hookConnection(conn.xmpp.connection._stropheConn);
        }
        const CE = JMJS.events.connection;
        conn.addEventListener(CE.CONNECTION_ESTABLISHED, (...a) => {
            E2E.connection = 'established'; record('connection', CE.CONNECTION_ESTABLISHED, a);
        });
        conn.addEventListener(CE.CONNECTION_FAILED, (...a) => {
            E2E.connection = 'failed'; record('connection', CE.CONNECTION_FAILED, a);
        });
        conn.addEventListener(CE.CONNECTION_DISCONNECTED, (...a) => {
            E2E.connection = 'disconnected'; record('connection', CE.CONNECTION_DISCONNECTED, a);
        });
        // No JID: the library logs in anonymously on hosts.anonymousdomain, else on hosts.domain.
        // (It would switch to hosts.domain if the page URL contained "login=true"; the driver never
        // puts anything in the query string.)
        conn.connect();
        record('e2e', 'e2e.connect_called', [ c.serviceUrl, hosts ]);
    };

    E2E.join = function (room, extraOptions) {
        const JMJS = window.JitsiMeetJS;
        if (!E2E.conn || E2E.connection !== 'established') {
            throw new Error(`E2E.join: connection is ${E2E.connection}, not established`);
        }
        const conf = E2E.conf = E2E.conn.initJitsiConference(room, Object.assign({
            p2p: { enabled: false }
        }, extraOptions || {}));
        for (const name of Object.values(JMJS.events.conference)) {
            conf.on(name, (...args) => record('conference', name, args));
        }
        conf.join();
        record('e2e', 'e2e.join_called', [ room ]);
    };

    function setLogin(status) { E2E.loginStatus = status; }

    E2E.login = function (id, password) {
        if (!E2E.conf) { throw new Error('E2E.login: no conference'); }
        setLogin({ state: 'pending', id });
        record('e2e', 'e2e.login_called', [ id ]);
        let thenable;
        try {
            thenable = E2E.conf.authenticateAndUpgradeRole({
                id,
                password,
                onLoginSuccessful: () => {
                    setLogin({ state: 'logged_in', id });
                    record('e2e', 'e2e.login_successful', [ id ]);
                }
            });
        } catch (e) {
            setLogin({ state: 'rejected', id, error: plain(e) });
            record('e2e', 'e2e.login_rejected', [ plain(e) ]);
            return;
        }
        thenable.then(
            () => {
                setLogin({ state: 'resolved', id });
                record('e2e', 'e2e.login_resolved', []);
            },
            err => {
                // UpgradeRoleError: { connectionError?, authenticationError?, message?, credentials? }
                const error = plain(err || {});
                if (error && error.credentials) { error.credentials = { jid: error.credentials.jid || null }; }
                setLogin({ state: 'rejected', id, error });
                record('e2e', 'e2e.login_rejected', [ error ]);
            });
    };

    E2E.leave = async function (timeoutMs) {
        const limit = timeoutMs || 5000;
        E2E.leaveStatus = { state: 'pending' };
        record('e2e', 'e2e.leave_called', []);
        const bounded = (p, ms) => Promise.race([ p, new Promise((_, rej) => setTimeout(
            () => rej(new Error(`timed out after ${ms} ms`)), ms)) ]);
        let error = null;
        // Only a joined conference is left: leave() on a room that was never joined (e.g. after a
        // reservation error) sends unavailable presence to a foreign room, gets a presence error and
        // times out after 5 s. Disconnecting is enough then.
        const joined = !!(E2E.conf && E2E.conf.room && E2E.conf.isJoined());
        if (joined) {
            try { await bounded(E2E.conf.leave(), limit); } catch (e) { error = `leave: ${e && e.message || e}`; }
        }
        if (E2E.conn && E2E.connection !== 'disconnected' && E2E.connection !== 'failed') {
            try { await bounded(Promise.resolve(E2E.conn.disconnect()), limit); } catch (e) {
                error = `${error ? `${error}; ` : ''}disconnect: ${e && e.message || e}`;
            }
        }
        const left = E2E.events.some(e => e.name === window.JitsiMeetJS.events.conference.CONFERENCE_LEFT);
        E2E.leaveStatus = { state: 'done', wasJoined: joined, left, error };
        record('e2e', 'e2e.leave_done', [ E2E.leaveStatus ]);
        return E2E.leaveStatus;
    };

    // ----------------------------------------------------------------------------------- start up
    window.addEventListener('load', () => {
        const JMJS = window.JitsiMeetJS;
        if (!JMJS || !window.$) {
            E2E.errors.push(`libraries missing: JitsiMeetJS=${!!JMJS} jQuery=${!!window.$}`);
            return;
        }
        stropheHooked = hookStropheGlobally();
        E2E.libVersion = JMJS.version;
        JMJS.init({ disableAudioLevels: true, disableThirdPartyRequests: true, analytics: { disabled: true } });
        JMJS.setLogLevel(JMJS.logLevels.INFO);
        E2E.ready = true;
        record('e2e', 'e2e.ready', [ { libVersion: JMJS.version, stropheHooked } ]);
    });
})();
