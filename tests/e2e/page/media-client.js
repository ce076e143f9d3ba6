/*
 * jitsi-focus media e2e client: one conference participant with local audio and video, in
 * headless Chromium next to lib-jitsi-meet (global JitsiMeetJS; see media.html for the builds).
 *
 * The driver (../media-driver.js) calls these through page.evaluate and polls with
 * page.waitForFunction; nothing here sleeps, everything is recorded as it happens:
 *
 *   M.connect({ serviceUrl, domain, muc, focus })   resolves on CONNECTION_ESTABLISHED
 *   M.createTracks()                                JitsiMeetJS.createLocalTracks audio + video
 *   M.join(room, conferenceOptions, media)          initJitsiConference, addTrack (those of media), join()
 *   M.addVideo()                                    addTrack of the camera after joining (source-add)
 *   M.stats()                                       the JVB peer connection's getStats(), digested
 *   M.leave(timeoutMs)                              conference.leave() then disconnect, bounded
 *   M.brief() / M.state()                           what the driver polls / the full record
 *
 * M.remote holds every remote TRACK_ADDED / TRACK_REMOVED as { t, event, participant, type, ssrc,
 * trackId, streamId }; M.jingle every Jingle IQ in or out with the answer it got.
 */
(function () {
    'use strict';

    const t0 = performance.now();
    const now = () => Math.round(performance.now() - t0);

    const M = window.M = {
        ready: false,
        lib: window.MEDIA_LIB || null,
        libVersion: null,
        events: [],       // { t, seq, source, name, args }
        remote: [],       // remote track added / removed
        local: [],        // local tracks created: { type, trackId }
        jingle: [],       // { t, dir, id, type, action, sid, from, to, answer: {t, type, error}|null, xml }
        xmpp: [],         // { t, dir, xml }
        errors: [],
        gum: [],          // getUserMedia constraints as asked and as passed on (2020 client shim)
        connection: null, // null | 'established' | 'failed' | 'disconnected'
        conn: null,
        conf: null,
        tracks: []
    };
    let seq = 0;

    window.addEventListener('error', e => M.errors.push(`error: ${e.message}`));
    window.addEventListener('unhandledrejection', e => M.errors.push(`unhandledrejection: ${text(e.reason)}`));
    function text(v) {
        if (v && v.message) { return `${v.name || 'Error'}: ${v.message}`; }
        try { return JSON.stringify(v); } catch (_) { return String(v); }
    }

    // The 2020 build asks Chrome for legacy {optional:[…], mandatory:{…}} constraints, which
    // Chromium 156 refuses ("Malformed constraints object"); rewrite them to standard ones.
    if (M.lib === 'dist215' && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
        const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        const ranges = { minWidth: [ 'width', 'min' ], maxWidth: [ 'width', 'max' ], minHeight: [ 'height', 'min' ],
            maxHeight: [ 'height', 'max' ], minFrameRate: [ 'frameRate', 'min' ], maxFrameRate: [ 'frameRate', 'max' ] };
        const fix = c => {
            if (!c || typeof c !== 'object') { return c; }
            const out = {};
            for (const [ k, v ] of Object.entries(c)) {
                if (k !== 'optional' && k !== 'mandatory') { out[k] = v; }
            }
            for (const legacy of [ ...(c.optional || []), c.mandatory || {} ]) {
                for (const [ k, v ] of Object.entries(legacy)) {
                    if (k.startsWith('goog') || k === 'chromeMediaSource' || k === 'bandwidth') { continue; }
                    if (k === 'sourceId') { out.deviceId = v; continue; }
                    if (ranges[k]) {
                        const [ name, bound ] = ranges[k];
                        out[name] = Object.assign({}, typeof out[name] === 'object' ? out[name] : {}, { [bound]: v });
                        continue;
                    }
                    if (!(k in out)) { out[k] = v; }
                }
            }
            return out;
        };
        navigator.mediaDevices.getUserMedia = constraints => {
            const fixed = { audio: fix(constraints.audio), video: fix(constraints.video) };
            M.gum.push({ asked: constraints, passed: fixed });
            return original(fixed);
        };
    }

    function record(source, name, args) {
        const e = { t: now(), seq: seq++, source, name, args: args || [] };
        M.events.push(e);
        const log = document.getElementById('log');
        if (log) { log.textContent += `${e.t} ${source} ${name}\n`; }
        return e;
    }

    // ------------------------------------------------------------------------------ XMPP traffic
    // Strophe calls xmlInput only when the connection's own xmlInput differs from the prototype's,
    // so connect() is wrapped to install per-instance hooks.
    function hookStrophe() {
        const proto = window.Strophe && window.Strophe.Connection && window.Strophe.Connection.prototype;
        if (!proto || typeof proto.connect !== 'function') { return false; }
        const connect = proto.connect;
        proto.connect = function (...args) {
            hookInstance(this);
            return connect.apply(this, args);
        };
        return true;
    }
    function hookInstance(sc) {
        if (!sc || sc.__mediaHooked) { return; }
        sc.__mediaHooked = true;
        sc.xmlInput = el => onXml('in', el);
        sc.xmlOutput = el => onXml('out', el);
    }
    const pendingJingle = new Map(); // iq id -> jingle record waiting for its answer
    function onXml(dir, el) {
        if (!el) { return; }
        M.xmpp.push({ t: now(), dir, xml: el.outerHTML });
        // BOSH frames wrap stanzas in <body>; WebSocket frames are the stanzas themselves.
        const stanzas = el.localName === 'body' ? Array.from(el.children) : [ el ];
        for (const s of stanzas) {
            if (s.localName !== 'iq') { continue; }
            const id = s.getAttribute('id');
            const type = s.getAttribute('type');
            const jingle = Array.from(s.children).find(c => c.localName === 'jingle');
            if (jingle && (type === 'set' || type === 'get')) {
                const r = { t: now(), dir, id, type, action: jingle.getAttribute('action'),
                    sid: jingle.getAttribute('sid'), from: s.getAttribute('from'), to: s.getAttribute('to'),
                    answer: null, xml: s.outerHTML };
                M.jingle.push(r);
                pendingJingle.set(`${dir}/${id}`, r);
            } else if (type === 'result' || type === 'error') {
                // An answer travels the other way.
                const key = `${dir === 'in' ? 'out' : 'in'}/${id}`;
                const r = pendingJingle.get(key);
                if (r) {
                    pendingJingle.delete(key);
                    const error = type === 'error' ? s.outerHTML : null;
                    r.answer = { t: now(), type, error };
                }
            }
        }
    }

    // ------------------------------------------------------------------------------ tracks
    function trackInfo(event, track) {
        let ssrc = null;
        try { ssrc = track.getSSRC ? track.getSSRC() : null; } catch (_) { /* not known */ }
        let streamId = null;
        try { streamId = track.getStreamId ? track.getStreamId() : null; } catch (_) { /* none */ }
        let trackId = null;
        try { trackId = track.getTrackId ? track.getTrackId() : null; } catch (_) { /* none */ }
        return { t: now(), event, participant: track.getParticipantId ? track.getParticipantId() : null,
            type: track.getType(), ssrc: ssrc === null || ssrc === undefined ? null : Number(ssrc),
            trackId, streamId };
    }

    // ------------------------------------------------------------------------------ actions
    M.connect = function (cfg) {
        const JMJS = window.JitsiMeetJS;
        if (M.conn) { throw new Error('M.connect called twice'); }
        const hosts = { domain: cfg.domain || 'meet.test', muc: cfg.muc || 'conference.meet.test',
            focus: cfg.focus || 'focus.meet.test' };
        const conn = M.conn = new JMJS.JitsiConnection(null, null, {
            hosts, serviceUrl: cfg.serviceUrl, clientNode: 'http://jitsi.org/jitsimeet'
        });
        if (!M.stropheHooked) {
            // Strophe is not global in this build: hook this connection only.
            hookInstance(conn.xmpp && conn.xmpp.connection && conn.xmpp.connection._stropheConn);
        }
        const CE = JMJS.events.connection;
        return new Promise((resolve, reject) => {
            conn.addEventListener(CE.CONNECTION_ESTABLISHED, () => {
                M.connection = 'established'; record('connection', CE.CONNECTION_ESTABLISHED); resolve();
            });
            conn.addEventListener(CE.CONNECTION_FAILED, (...a) => {
                M.connection = 'failed'; record('connection', CE.CONNECTION_FAILED, a.map(text));
                reject(new Error(`CONNECTION_FAILED ${a.map(text).join(' ')}`));
            });
            conn.addEventListener(CE.CONNECTION_DISCONNECTED, (...a) => {
                M.connection = 'disconnected'; record('connection', CE.CONNECTION_DISCONNECTED, a.map(text));
            });
            conn.connect();
            record('e2e', 'e2e.connect_called', [ cfg.serviceUrl ]);
        });
    };

    M.createTracks = async function () {
        const tracks = await window.JitsiMeetJS.createLocalTracks({ devices: [ 'audio', 'video' ] });
        M.tracks = tracks;
        M.local = tracks.map(t => ({ type: t.getType(), trackId: t.getTrackId ? t.getTrackId() : null }));
        record('e2e', 'e2e.local_tracks', [ M.local ]);
        return M.local;
    };

    // media: which local tracks go on before joining (default all).
    M.join = async function (room, options, media) {
        const JMJS = window.JitsiMeetJS;
        const CE = JMJS.events.conference;
        const conf = M.conf = M.conn.initJitsiConference(room, options);
        for (const name of Object.values(CE)) {
            if (name === CE.TRACK_ADDED || name === CE.TRACK_REMOVED) { continue; }
            conf.on(name, (...args) => record('conference', name, args.map(a =>
                a === null || a === undefined || typeof a !== 'object' ? a : text(a).slice(0, 300))));
        }
        conf.on(CE.TRACK_ADDED, track => {
            if (!track.isLocal()) { M.remote.push(trackInfo('added', track)); }
            record('conference', CE.TRACK_ADDED, [ track.isLocal() ? 'local' : 'remote' ]);
        });
        conf.on(CE.TRACK_REMOVED, track => {
            if (!track.isLocal()) { M.remote.push(trackInfo('removed', track)); }
            record('conference', CE.TRACK_REMOVED, [ track.isLocal() ? 'local' : 'remote' ]);
        });
        for (const track of M.tracks.filter(t => !media || media.includes(t.getType()))) {
            await conf.addTrack(track);
        }
        conf.join();
        record('e2e', 'e2e.join_called', [ room, options ]);
    };

    // Adds the local camera to a conference joined without it (source-add).
    M.addVideo = async function () {
        const video = M.tracks.find(t => t.getType() === 'video');
        record('e2e', 'e2e.add_video', []);
        await M.conf.addTrack(video);
    };

    // Remote tracks added and not removed since, by track id.
    M.live = function () {
        const live = new Map();
        for (const r of M.remote) {
            if (r.event === 'added') { live.set(r.trackId, r); } else { live.delete(r.trackId); }
        }
        return Array.from(live.values());
    };

    M.endpointId = () => (M.conf && M.conf.myUserId ? M.conf.myUserId() || null : null);
    M.joined = () => !!(M.conf && M.conf.isJoined && M.conf.isJoined());

    function jvbPeerConnection() {
        const session = M.conf && M.conf.jvbJingleSession;
        const tpc = session && session.peerconnection;
        return tpc ? tpc.peerconnection || null : null;
    }

    // The JVB peer connection's transport as getStats() reports it: the selected candidate pair
    // (its remote candidate is the bridge's address when media goes through the bridge), the
    // DTLS and ICE states, and per-SSRC RTP counters.
    M.stats = async function () {
        const pc = jvbPeerConnection();
        if (!pc) { return { pc: null }; }
        const report = await pc.getStats();
        const byId = new Map();
        report.forEach(r => byId.set(r.id, r));
        const candidate = id => {
            const c = byId.get(id);
            return c ? { address: c.address || c.ip || null, port: c.port, candidateType: c.candidateType,
                protocol: c.protocol } : null;
        };
        const out = { pc: { iceConnectionState: pc.iceConnectionState, connectionState: pc.connectionState,
            signalingState: pc.signalingState }, transports: [], pair: null, inbound: [], outbound: [] };
        for (const r of byId.values()) {
            if (r.type === 'transport') {
                out.transports.push({ id: r.id, dtlsState: r.dtlsState, iceState: r.iceState || null,
                    dtlsRole: r.dtlsRole || null, selectedCandidatePairId: r.selectedCandidatePairId || null });
            } else if (r.type === 'inbound-rtp') {
                out.inbound.push({ ssrc: r.ssrc, kind: r.kind, packetsReceived: r.packetsReceived,
                    bytesReceived: r.bytesReceived, framesDecoded: r.framesDecoded });
            } else if (r.type === 'outbound-rtp') {
                out.outbound.push({ ssrc: r.ssrc, kind: r.kind, packetsSent: r.packetsSent, bytesSent: r.bytesSent });
            }
        }
        const selected = out.transports.map(t => t.selectedCandidatePairId).find(Boolean);
        const pair = selected && byId.get(selected);
        if (pair) {
            out.pair = { state: pair.state, nominated: pair.nominated, bytesSent: pair.bytesSent,
                bytesReceived: pair.bytesReceived, local: candidate(pair.localCandidateId),
                remote: candidate(pair.remoteCandidateId) };
        }
        return out;
    };

    // Media received, per remote participant, in the current JVB peer connection (the one of
    // the current Jingle session: a move to another bridge makes a new one, whose counters
    // start again). Remote SSRCs are attributed with the live remote tracks.
    let pcSerial = 0;
    M.rawInbound = async function () {
        const pc = jvbPeerConnection();
        if (!pc) { return null; }
        const out = [];
        (await pc.getStats()).forEach(r => {
            if (r.type === 'inbound-rtp') { out.push({ ssrc: r.ssrc, kind: r.kind, mid: r.mid, packetsReceived: r.packetsReceived, framesDecoded: r.framesDecoded }); }
        });
        return out;
    };
    M.mediaStats = async function () {
        const pc = jvbPeerConnection();
        if (!pc) { return null; }
        if (!pc.__e2eId) { pc.__e2eId = ++pcSerial; }
        const owners = new Map(M.live().filter(r => r.ssrc !== null).map(r => [ r.ssrc, r ]));
        const report = await pc.getStats();
        const byParticipant = {};
        report.forEach(r => {
            if (r.type !== 'inbound-rtp') { return; }
            const owner = owners.get(r.ssrc);
            if (!owner) { return; }
            const m = byParticipant[owner.participant] = byParticipant[owner.participant] || {};
            if (r.kind === 'video') {
                m.videoSsrc = r.ssrc;
                m.framesDecoded = r.framesDecoded || 0;
            } else {
                m.audioSsrc = r.ssrc;
                m.audioPackets = r.packetsReceived || 0;
            }
        });
        const session = M.conf && M.conf.jvbJingleSession;
        return { t: now(), pcId: pc.__e2eId, sid: session ? session.sid : null,
            connectionState: pc.connectionState, byParticipant };
    };

    // A sampler of M.mediaStats() (every intervalMs): the last two samples, when media from each
    // remote participant first arrived in each peer connection, and when each one's audio
    // counter last moved. Measurement only: the driver awaits conditions on what it records.
    M.media = { prev: null, last: null, firsts: {}, audioMoved: {}, timer: null, busy: false };
    M.watchMedia = function (intervalMs) {
        if (M.media.timer) { return; }
        M.media.timer = setInterval(async () => {
            if (M.media.busy) { return; }
            M.media.busy = true;
            try {
                const sample = await M.mediaStats();
                if (sample) { takeSample(sample); }
            } catch (e) {
                M.errors.push(`mediaStats: ${text(e)}`);
            } finally {
                M.media.busy = false;
            }
        }, intervalMs);
    };
    function takeSample(sample) {
        const before = M.media.last && M.media.last.pcId === sample.pcId ? M.media.last : null;
        M.media.prev = before;
        M.media.last = sample;
        const firsts = M.media.firsts[sample.pcId] = M.media.firsts[sample.pcId] || {};
        for (const [ id, m ] of Object.entries(sample.byParticipant)) {
            const f = firsts[id] = firsts[id] || { frame: null, audio: null };
            if (f.frame === null && m.framesDecoded > 0) { f.frame = sample.t; }
            if (f.audio === null && m.audioPackets > 0) { f.audio = sample.t; }
            const was = before && before.byParticipant[id];
            if (!was || was.audioPackets !== m.audioPackets) { M.media.audioMoved[id] = sample.t; }
        }
    }
    // Between the last two samples of one peer connection (not notPcId), video frames decoded
    // rose from every sender whose media include 'video', and audio packets received from every
    // one whose media include 'audio'. senders: [ [ participantId, [ 'audio', 'video' ] ], … ].
    M.flowing = function (senders, notPcId) {
        const a = M.media.prev;
        const b = M.media.last;
        if (!a || !b || b.pcId === notPcId) { return false; }
        return senders.every(([ id, media ]) => {
            const x = a.byParticipant[id];
            const y = b.byParticipant[id];
            return !!(x && y && (!media.includes('video') || y.framesDecoded > x.framesDecoded)
                && (!media.includes('audio') || y.audioPackets > x.audioPackets));
        });
    };
    // id's audio counter has not moved for quietMs while its video frames kept rising.
    M.audioStopped = function (id, quietMs) {
        const a = M.media.prev;
        const b = M.media.last;
        if (!a || !b || !a.byParticipant[id] || !b.byParticipant[id]) { return false; }
        const videoRising = b.byParticipant[id].framesDecoded > a.byParticipant[id].framesDecoded;
        return videoRising && b.t - (M.media.audioMoved[id] || 0) >= quietMs;
    };
    M.audioPacketsOf = id => (M.media.last && M.media.last.byParticipant[id]
        ? M.media.last.byParticipant[id].audioPackets : null);
    // When CONFERENCE_JOINED fired (page time).
    M.joinedAt = () => {
        const e = M.events.find(x => x.name === window.JitsiMeetJS.events.conference.CONFERENCE_JOINED);
        return e ? e.t : null;
    };

    // As a moderator: mute another participant's audio (the focus forwards it and has the
    // bridge enforce it).
    M.muteAudioOf = function (participantId) {
        record('e2e', 'e2e.mute_audio_of', [ participantId ]);
        M.conf.muteParticipant(participantId, 'audio');
    };
    M.isModerator = () => !!(M.conf && M.conf.isModerator && M.conf.isModerator());

    M.leave = async function (timeoutMs) {
        const limit = timeoutMs || 5000;
        const bounded = (p, ms) => Promise.race([ p, new Promise((_, rej) => setTimeout(
            () => rej(new Error(`timed out after ${ms} ms`)), ms)) ]);
        record('e2e', 'e2e.leave_called', []);
        let error = null;
        const joined = M.joined();
        if (joined) {
            try { await bounded(M.conf.leave(), limit); } catch (e) { error = `leave: ${text(e)}`; }
        }
        for (const track of M.tracks) {
            try { await track.dispose(); } catch (_) { /* already gone */ }
        }
        if (M.conn && M.connection === 'established') {
            try { await bounded(Promise.resolve(M.conn.disconnect()), limit); } catch (e) {
                error = `${error ? `${error}; ` : ''}disconnect: ${text(e)}`;
            }
        }
        const left = M.events.some(e => e.name === window.JitsiMeetJS.events.conference.CONFERENCE_LEFT);
        record('e2e', 'e2e.leave_done', [ { joined, left, error } ]);
        return { joined, left, error };
    };

    M.brief = () => ({
        joined: M.joined(),
        endpointId: M.endpointId(),
        remote: M.remote,
        jingle: M.jingle.map(j => ({ dir: j.dir, action: j.action, answer: j.answer })),
        errors: M.errors,
        failed: M.events.filter(e => /failed|error/i.test(e.name)).map(e => ({ name: e.name, args: e.args })),
        media: { prev: M.media.prev, last: M.media.last }
    });

    M.state = () => ({
        lib: M.lib, libVersion: M.libVersion, endpointId: M.endpointId(), joined: M.joined(),
        myRoomJid: M.conf && M.conf.room ? M.conf.room.myroomjid : null,
        local: M.local, remote: M.remote, jingle: M.jingle, events: M.events, errors: M.errors,
        gum: M.gum, xmpp: M.xmpp, media: { prev: M.media.prev, last: M.media.last, firsts: M.media.firsts }
    });

    // ------------------------------------------------------------------------------ start up
    window.addEventListener('load', () => {
        const JMJS = window.JitsiMeetJS;
        if (window.MEDIA_LOAD_ERROR || !JMJS) {
            M.errors.push(`libraries missing: ${window.MEDIA_LOAD_ERROR || 'no JitsiMeetJS'}`);
            return;
        }
        const hooked = M.stropheHooked = hookStrophe();
        M.libVersion = JMJS.version;
        JMJS.init({ disableAudioLevels: true, disableThirdPartyRequests: true, analytics: { disabled: true } });
        JMJS.setLogLevel(JMJS.logLevels.INFO);
        M.ready = true;
        record('e2e', 'e2e.ready', [ { lib: M.lib, libVersion: JMJS.version, stropheHooked: hooked } ]);
    });
})();
