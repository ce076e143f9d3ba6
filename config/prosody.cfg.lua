-- The Prosody lines jitsi-focus needs (Prosody 0.12), for a deployment on meet.example.com.
-- Add them to /etc/prosody/conf.d/meet.example.com.cfg.lua (jitsi-meet's Debian package
-- writes that file) and replace the jicofo-specific parts it has.

-- Prosody's own speed (global settings, before any VirtualHost or Component). With both,
-- Prosody carries about twice the signalling on the same machine: measured on the project's
-- 2-core test machine, the stock configuration managed 4.6k conference-IQ round trips/s, 1.3k
-- MUC join+leave cycles/s with the focus in the room, 3.65k small IQs/s and about 1k
-- session-initiate-sized IQs/s; each roughly doubles with these two lines.
-- The generational garbage collector needs Lua 5.4 (Prosody 0.12 on Debian 12 runs on it).
gc = { mode = "generational" }
-- Read up to 64 KiB from a connection at once (the default, 8 KiB, splits large stanzas such
-- as session-initiate into many reads).
network_default_read_size = 65536
-- Send each stanza at once (TCP_NODELAY). With Prosody's default (Nagle's algorithm on), a
-- stanza to the focus waits for the focus's delayed ACK of the one before whenever two follow
-- each other: at 50 new rooms/s a disco#info answered by the focus took 19 ms (p50) instead of
-- 0.6 ms, and a new room 28 ms instead of 2.6 ms (p99 87 ms -> 6.7 ms). See BENCHMARKS.md.
network_settings = { nagle = false }

-- jitsi-focus connects to this port as an XEP-0114 component. Keep it on loopback.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

-- The focus itself: an external component. The secret must match xmpp.secret.
-- (This replaces jicofo's `Component "focus.meet.example.com" "client_proxy"` block.)
Component "focus.meet.example.com"
    component_secret = "change-me"

-- The conference MUC.
Component "conference.meet.example.com" "muc"
    -- The focus component joins every room as owner ("focus" nickname). Prosody 0.12 accepts a
    -- bare component JID here.
    admins = { "focus.meet.example.com" }
    -- Only admins (the focus) may create rooms: clients wait for the focus's ready='true',
    -- so no room exists that the reservation API did not allow.
    restrict_room_creation = true
    -- No XEP-0045 room locking: the room is usable as soon as the focus joined it.
    muc_room_locking = false
    -- Real JIDs visible to occupants: lib-jitsi-meet recognises the focus by its real JID
    -- (focus.meet.example.com/focus). jitsi-focus also sets whois=anyone on each room it owns.
    muc_room_default_public_jids = true
    -- Keep live rooms in memory: with Prosody's default of 100, every access to a room beyond
    -- the hundredth swaps rooms out and in, and a burst of new rooms saturates Prosody
    -- (README, Benchmarks). Jitsi's own deployments use 1000 to 10000.
    muc_room_cache_size = 10000

-- Bridges: jitsi-videobridge logs in as jvb@auth.meet.example.com
-- (prosodyctl register jvb auth.meet.example.com SECRET) and joins the brewery room
-- jvbbrewery@internal.auth.meet.example.com, where the focus (bridges.brewery) finds it.
VirtualHost "auth.meet.example.com"
    authentication = "internal_hashed"

Component "internal.auth.meet.example.com" "muc"
    -- The focus joins the brewery (and may create it) like any room it runs.
    admins = { "focus.meet.example.com" }
    muc_room_locking = false
    muc_room_default_public_jids = true
    storage = "memory"
