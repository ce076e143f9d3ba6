/*
 * The jitsi-focus demo conference page: joins the room named by the URL path with the real
 * Jitsi client (@lyno/lib-jitsi-meet 2.6726.2, global JitsiMeetJS), sends the local camera and
 * microphone, and shows one tile per remote participant: a muted <video> (so it may play
 * without a click) and a separate <audio> element for its sound.
 *
 * Everything happens on the client's events; nothing waits for time to pass. Whatever goes
 * wrong is written into the page (#errors). window.DEMO holds the state for tests and the
 * curious; DEMO.snapshot() returns it as plain data:
 *
 *   { room, phase, joined, endpointId, displayName, errors: [text], participants: [{id, name,
 *     me}], local: {playing, framesPresented, …}, tiles: [{participantId, label, hasVideoTrack,
 *     hasAudioTrack, audioPlaying, playing, framesPresented, totalVideoFrames, width, height,
 *     firstFrameMs, createdMs}], timings: {connected, localTracks, joined}, soundBlocked }
 *
 * phase: loading → connecting → joining → joined → leaving → left, or failed. Times are
 * milliseconds since the script started.
 */
(function () {
    'use strict';

    const CONFERENCE_OPTIONS = {
        // P2P is on when the option is absent: a two-person call would bypass the bridge.
        p2p: { enabled: false },
        // One video stream per sender; the bridge forwards it as it is.
        disableSimulcast: true,
        openBridgeChannel: 'datachannel',
        // Unified Plan, the only SDP Chromium still speaks; a conference option in this build.
        enableUnifiedOnChrome: true
    };

    const t0 = performance.now();
    const now = () => Math.round(performance.now() - t0);
    const $ = id => document.getElementById(id);

    const DEMO = window.DEMO = {
        room: decodeURIComponent(location.pathname.slice(1)),
        phase: 'loading',
        joined: false,
        endpointId: null,
        displayName: null,
        errors: [],
        timings: {},
        soundBlocked: false
    };

    let JMJS = null;          // window.JitsiMeetJS once loaded
    let connection = null;
    let conference = null;
    let localTracks = [];
    const tiles = new Map();  // participant id -> tile (see newTile)
    const localTile = { id: null, video: null, frames: 0, firstFrameAt: null, createdAt: 0 };

    // ------------------------------------------------------------------------ page state
    function describe(v) {
        if (v === null || v === undefined) { return String(v); }
        if (typeof v === 'string') { return v; }
        if (v.message || v.name) { return [ v.name, v.message ].filter(Boolean).join(': '); }
        try { return JSON.stringify(v); } catch (_) { return String(v); }
    }

    function showError(text) {
        DEMO.errors.push({ t: now(), text });
        const li = document.createElement('li');
        li.textContent = text;
        $('errors').append(li);
    }

    function setPhase(phase, text) {
        DEMO.phase = phase;
        document.body.dataset.phase = phase;
        $('status').textContent = text;
        const over = phase === 'failed' || phase === 'left';
        // Out of the call: the camera and microphone go off, and so does the preview.
        if (over) { stopLocalTracks(); }
        $('local-tile').hidden = over;
        updateControls();
    }

    function stopLocalTracks() {
        const tracks = localTracks;
        localTracks = [];
        return Promise.all(tracks.map(track => track.dispose().catch(() => { /* already gone */ })));
    }

    // ------------------------------------------------------------------------ tiles
    // Counts frames presented to the screen: requestVideoFrameCallback fires once per frame
    // composited, so the count rises only while the video really plays.
    function countFrames(tile, onFirst) {
        const onFrame = () => {
            tile.frames += 1;
            if (tile.firstFrameAt === null) {
                tile.firstFrameAt = now();
                onFirst();
            }
            tile.video.requestVideoFrameCallback(onFrame);
        };
        tile.video.requestVideoFrameCallback(onFrame);
    }

    function newTile(id) {
        const figure = document.createElement('figure');
        figure.className = 'tile remote';
        figure.dataset.participant = id;
        // Muted, so that the browser plays it without a click; the sound has its own element.
        const video = document.createElement('video');
        video.muted = true;
        video.autoplay = true;
        video.playsInline = true;
        for (const attribute of [ 'muted', 'autoplay', 'playsinline' ]) { video.setAttribute(attribute, ''); }
        const audio = document.createElement('audio');
        audio.autoplay = true;
        const caption = document.createElement('figcaption');
        const label = document.createElement('span');
        label.className = 'label';
        const state = document.createElement('span');
        state.className = 'state';
        caption.append(label, ' ', state);
        figure.append(video, audio, caption);
        $('tiles').append(figure);
        const tile = { id, figure, video, audio, label, state, videoTrack: null, audioTrack: null,
            frames: 0, firstFrameAt: null, createdAt: now() };
        countFrames(tile, () => renderTile(tile));
        return tile;
    }

    function tileOf(id) {
        if (!tiles.has(id)) {
            tiles.set(id, newTile(id));
            renderTile(tiles.get(id));
        }
        return tiles.get(id);
    }

    function removeTile(id) {
        const tile = tiles.get(id);
        if (!tile) { return; }
        tiles.delete(id);
        for (const [ track, element ] of [ [ tile.videoTrack, tile.video ], [ tile.audioTrack, tile.audio ] ]) {
            if (track) { track.detach(element); }
        }
        tile.figure.remove();
    }

    function participantName(id) {
        const p = conference && conference.getParticipantById(id);
        return (p && p.getDisplayName()) || `Participant ${id}`;
    }

    // The caption: who it is, and why there is no picture when there is none.
    function renderTile(tile) {
        tile.label.textContent = participantName(tile.id);
        let state = '';
        if (!tile.videoTrack) {
            state = 'no video';
        } else if (tile.videoTrack.isMuted()) {
            state = 'camera off';
        } else if (tile.firstFrameAt === null) {
            state = 'waiting for video…';
        }
        if (tile.audioTrack && tile.audioTrack.isMuted()) { state = `${state ? `${state}, ` : ''}muted`; }
        tile.state.textContent = state;
        tile.figure.classList.toggle('no-picture', !tile.videoTrack || tile.videoTrack.isMuted()
            || tile.firstFrameAt === null);
    }

    // play() on a remote <audio> is refused until the user has interacted with the site
    // (autoplay policy): then a button asks for the click that unblocks it.
    function playAudio(audio) {
        audio.play().catch(e => {
            if (e && e.name === 'NotAllowedError') {
                DEMO.soundBlocked = true;
                $('enable-sound').hidden = false;
            }
        });
    }

    function onTrackAdded(track) {
        if (track.isLocal()) { return; }
        const tile = tileOf(track.getParticipantId());
        if (track.getType() === 'video') {
            tile.videoTrack = track;
            track.attach(tile.video);
            tile.video.play().catch(() => { /* muted video may always play; a newer source interrupts */ });
        } else {
            tile.audioTrack = track;
            track.attach(tile.audio);
            playAudio(tile.audio);
        }
        renderTile(tile);
    }

    function onTrackRemoved(track) {
        if (track.isLocal()) { return; }
        const tile = tiles.get(track.getParticipantId());
        if (!tile) { return; }
        if (tile.videoTrack === track) {
            track.detach(tile.video);
            tile.videoTrack = null;
        } else if (tile.audioTrack === track) {
            track.detach(tile.audio);
            tile.audioTrack = null;
        }
        renderTile(tile);
    }

    function onTrackMuteChanged(track) {
        if (track.isLocal()) { updateControls(); return; }
        const tile = tiles.get(track.getParticipantId());
        if (tile) { renderTile(tile); }
    }

    // ------------------------------------------------------------------------ participants
    function renderParticipants() {
        const list = $('participants');
        list.replaceChildren();
        const add = (id, name, role, me) => {
            const li = document.createElement('li');
            if (id) { li.dataset.participant = id; }
            li.classList.toggle('me', me);
            const strong = document.createElement('strong');
            strong.textContent = me ? `${name} (you)` : name;
            li.append(strong);
            if (id) {
                const code = document.createElement('code');
                code.textContent = id;
                li.append(' ', code);
            }
            if (role === 'moderator') {
                const badge = document.createElement('span');
                badge.className = 'badge';
                badge.textContent = 'moderator';
                li.append(' ', badge);
            }
            list.append(li);
        };
        add(DEMO.endpointId, DEMO.displayName, conference && conference.isModerator() ? 'moderator' : null, true);
        for (const p of conference ? conference.getParticipants() : []) {
            add(p.getId(), p.getDisplayName() || `Participant ${p.getId()}`, p.getRole(), false);
        }
        $('local-label').textContent = `${DEMO.displayName} (you)`;
    }

    // ------------------------------------------------------------------------ controls
    function localTrack(type) {
        return localTracks.find(t => t.getType() === type) || null;
    }

    function updateControls() {
        const inCall = DEMO.phase === 'joining' || DEMO.phase === 'joined';
        for (const [ button, type, on, off ] of [ [ 'toggle-mic', 'audio', 'Mute microphone', 'Unmute microphone' ],
            [ 'toggle-camera', 'video', 'Turn camera off', 'Turn camera on' ] ]) {
            const track = localTrack(type);
            $(button).disabled = !inCall || !track;
            $(button).textContent = track && track.isMuted() ? off : on;
        }
        $('leave').disabled = !inCall;
        const camera = localTrack('video');
        $('local-tile').classList.toggle('no-picture', !camera || camera.isMuted() || localTile.firstFrameAt === null);
        $('local-state').textContent = !camera ? 'no camera' : camera.isMuted() ? 'camera off' : '';
    }

    async function toggle(type) {
        const track = localTrack(type);
        if (!track) { return; }
        try {
            await (track.isMuted() ? track.unmute() : track.mute());
        } catch (e) {
            showError(`Cannot switch the ${type === 'audio' ? 'microphone' : 'camera'}: ${describe(e)}`);
        }
        updateControls();
    }

    function setupControls() {
        $('toggle-mic').addEventListener('click', () => toggle('audio'));
        $('toggle-camera').addEventListener('click', () => toggle('video'));
        $('leave').addEventListener('click', leave);
        $('enable-sound').addEventListener('click', () => {
            // This click is the user gesture the autoplay policy waits for.
            for (const tile of tiles.values()) { tile.audio.play().catch(() => {}); }
            DEMO.soundBlocked = false;
            $('enable-sound').hidden = true;
        });
        const name = $('name');
        name.value = DEMO.displayName;
        name.addEventListener('change', () => {
            DEMO.displayName = name.value.trim() || DEMO.displayName;
            name.value = DEMO.displayName;
            try { localStorage.setItem('demo.displayName', DEMO.displayName); } catch (_) { /* storage off */ }
            if (conference) { conference.setDisplayName(DEMO.displayName); }
            renderParticipants();
        });
    }

    function initialName() {
        try {
            const saved = localStorage.getItem('demo.displayName');
            if (saved) { return saved; }
        } catch (_) { /* storage off: a fresh name each time */ }
        return `Guest ${String(Math.floor(Math.random() * 9000) + 1000)}`;
    }

    // ------------------------------------------------------------------------ conference
    function connect() {
        const config = window.DEMO_CONFIG;
        connection = new JMJS.JitsiConnection(null, null, { hosts: config.hosts, serviceUrl: config.serviceUrl });
        const CE = JMJS.events.connection;
        return new Promise((resolve, reject) => {
            connection.addEventListener(CE.CONNECTION_ESTABLISHED, () => {
                DEMO.timings.connected = now();
                resolve();
            });
            connection.addEventListener(CE.CONNECTION_FAILED, (type, reason) => {
                reject(new Error(`Cannot connect to the XMPP service ${config.serviceUrl}: ${describe(type)}`
                    + `${reason ? ` (${describe(reason)})` : ''}`));
            });
            connection.addEventListener(CE.CONNECTION_DISCONNECTED, reason => {
                if (![ 'leaving', 'left', 'failed' ].includes(DEMO.phase)) {
                    showError(`Disconnected from the XMPP service${reason ? `: ${describe(reason)}` : ''}.`);
                    setPhase('failed', 'Not connected. Reload the page to try again.');
                }
            });
            connection.connect();
        });
    }

    // Camera and microphone; without them the page still joins, to watch and listen.
    async function createLocalTracks() {
        let tracks = [];
        try {
            tracks = await JMJS.createLocalTracks({ devices: [ 'audio', 'video' ] });
        } catch (e) {
            showError(`Camera and microphone are not available (${describe(e)}): joining without them.`);
        }
        DEMO.timings.localTracks = now();
        if (DEMO.phase === 'failed') {
            // The page gave up while the browser was asking: switch them off again.
            await Promise.all(tracks.map(track => track.dispose().catch(() => {})));
            return [];
        }
        localTracks = tracks;
        const camera = localTrack('video');
        if (camera) { camera.attach(localTile.video); }
        updateControls();
        return localTracks;
    }

    function onConferenceFailed(error, ...params) {
        const CF = JMJS.errors.conference;
        if (error === CF.RESERVATION_ERROR) {
            const [ code, message ] = params;
            showError(`The reservation system refused room “${DEMO.room}” (code ${code}): ${message || 'no message'}`);
        } else if (error === CF.AUTHENTICATION_REQUIRED) {
            showError(`Room “${DEMO.room}” needs a signed-in moderator; this demo has no sign-in.`);
        } else {
            showError(`The conference failed: ${[ error, ...params ].map(describe).join(' ')}`);
        }
        if (!conference.isJoined()) {
            // Leaving a room never joined would hang on a presence error: just disconnect.
            setPhase('failed', 'Not in the conference. Reload the page to try again.');
            connection.disconnect();
        }
    }

    function onJoined() {
        DEMO.joined = true;
        DEMO.endpointId = conference.myUserId();
        DEMO.timings.joined = now();
        setPhase('joined', `In room “${DEMO.room}”. Open this page in another tab or browser to add a participant.`);
        renderParticipants();
    }

    async function join(tracks) {
        const CE = JMJS.events.conference;
        conference = connection.initJitsiConference(DEMO.room, CONFERENCE_OPTIONS);
        conference.on(CE.CONFERENCE_JOINED, onJoined);
        conference.on(CE.CONFERENCE_FAILED, onConferenceFailed);
        conference.on(CE.CONFERENCE_ERROR, (error, ...params) => showError(
            `Conference error: ${[ error, ...params ].map(describe).join(' ')}`));
        conference.on(CE.KICKED, () => showError('You were removed from the conference.'));
        conference.on(CE.USER_JOINED, id => { tileOf(id); renderParticipants(); });
        conference.on(CE.USER_LEFT, id => { removeTile(id); renderParticipants(); });
        conference.on(CE.DISPLAY_NAME_CHANGED, id => {
            if (tiles.has(id)) { renderTile(tiles.get(id)); }
            renderParticipants();
        });
        conference.on(CE.USER_ROLE_CHANGED, renderParticipants);
        conference.on(CE.TRACK_ADDED, onTrackAdded);
        conference.on(CE.TRACK_REMOVED, onTrackRemoved);
        conference.on(CE.TRACK_MUTE_CHANGED, onTrackMuteChanged);
        conference.setDisplayName(DEMO.displayName);
        for (const track of tracks) { await conference.addTrack(track); }
        setPhase('joining', `Joining room “${DEMO.room}”…`);
        conference.join();
    }

    async function leave() {
        setPhase('leaving', 'Leaving…');
        if (conference && conference.isJoined()) {
            try { await conference.leave(); } catch (e) { showError(`Leaving failed: ${describe(e)}`); }
        }
        for (const id of [ ...tiles.keys() ]) { removeTile(id); }
        DEMO.joined = false;
        if (connection) { await Promise.resolve(connection.disconnect()).catch(() => {}); }
        setPhase('left', 'You left the conference. Reload the page to join again.');
        renderParticipants();
    }

    async function start() {
        $('room').textContent = DEMO.room;
        document.title = `${DEMO.room} · jitsi-focus demo`;
        localTile.video = $('local-video');
        countFrames(localTile, updateControls);
        DEMO.displayName = initialName();
        setupControls();
        renderParticipants();
        JMJS = window.JitsiMeetJS;
        if (!JMJS || !window.DEMO_CONFIG) {
            showError('The Jitsi client did not load (lib-jitsi-meet.min.js or /config.js); see the browser console.');
            setPhase('failed', 'Not connected.');
            return;
        }
        // No analytics, no third-party requests: the page talks to this machine only.
        JMJS.init({ disableAudioLevels: true, disableThirdPartyRequests: true, analytics: { disabled: true } });
        JMJS.setLogLevel(JMJS.logLevels.WARN);
        setPhase('connecting', `Connecting to ${window.DEMO_CONFIG.serviceUrl}…`);
        // The camera prompt and the XMPP login overlap; both are needed before joining.
        const tracks = createLocalTracks();
        try {
            await connect();
        } catch (e) {
            showError(e.message);
            setPhase('failed', 'Not connected. Reload the page to try again.');
            return;
        }
        try {
            await join(await tracks);
        } catch (e) {
            showError(`Cannot join room “${DEMO.room}”: ${describe(e)}`);
            setPhase('failed', 'Not in the conference. Reload the page to try again.');
        }
    }

    // ------------------------------------------------------------------------ for tests
    function videoState(tile) {
        const v = tile.video;
        const quality = v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
        return {
            playing: !!v && !v.paused && !v.ended && v.readyState >= v.HAVE_CURRENT_DATA,
            framesPresented: tile.frames,
            totalVideoFrames: quality ? quality.totalVideoFrames : null,
            width: v ? v.videoWidth : 0,
            height: v ? v.videoHeight : 0,
            firstFrameMs: tile.firstFrameAt,
            createdMs: tile.createdAt
        };
    }

    DEMO.snapshot = () => ({
        room: DEMO.room,
        phase: DEMO.phase,
        joined: DEMO.joined,
        endpointId: DEMO.endpointId,
        displayName: DEMO.displayName,
        errors: DEMO.errors.map(e => e.text),
        // As listed in the page.
        participants: Array.from(document.querySelectorAll('#participants li'), li => ({
            id: li.dataset.participant || null, name: li.querySelector('strong').textContent,
            me: li.classList.contains('me') })),
        local: videoState(localTile),
        tiles: Array.from(tiles.values(), tile => Object.assign({ participantId: tile.id,
            label: tile.label.textContent, hasVideoTrack: !!tile.videoTrack, hasAudioTrack: !!tile.audioTrack,
            audioPlaying: !!tile.audioTrack && !tile.audio.paused }, videoState(tile))),
        timings: Object.assign({}, DEMO.timings),
        soundBlocked: DEMO.soundBlocked
    });

    window.addEventListener('error', e => showError(`Page error: ${e.message}`));
    window.addEventListener('unhandledrejection', e => showError(`Page error: ${describe(e.reason)}`));
    // Something the Content-Security-Policy blocked: the page tried to reach beyond its server.
    document.addEventListener('securitypolicyviolation', e => showError(
        `Blocked by the page's security policy: ${e.violatedDirective} ${e.blockedURI}`));
    // Leave cleanly when the tab closes; with the event, the client sends its goodbye as a
    // beacon (BOSH), so that no ghost participant stays behind until a timeout.
    window.addEventListener('beforeunload', e => {
        if (connection && DEMO.phase !== 'left') { connection.disconnect(e); }
    });

    start();
})();
