#!/usr/bin/env node
/*
 * Writes the Jingle stanzas the real clients sent in media-driver.js runs as fixtures:
 *
 *   node tests/e2e/capture-fixtures.js --dir tests/fixtures/jingle RESULT.json...
 *
 * RESULT.json are media-driver.js results (E2E_KEEP=DIR cargo test --test browser_media keeps
 * them): one of --lib dist215 and one of --lib lyno run with --late-video. Each stanza is
 * written exactly as the page's Strophe hook saw it leave the browser (one <iq>, no BOSH body).
 */
'use strict';

const fs = require('fs');
const path = require('path');

function usage(message) {
    console.error(`${message}\nusage: node capture-fixtures.js --dir DIR RESULT.json...`);
    process.exit(2);
}

const args = process.argv.slice(2);
const at = args.indexOf('--dir');
if (at < 0 || !args[at + 1]) { usage('--dir is required'); }
const dir = args[at + 1];
const files = args.filter((_, i) => i !== at && i !== at + 1);
if (!files.length) { usage('no result files'); }

const DIRS = { dist215: 'lib-jitsi-meet-dist-2.1.5', lyno: 'lyno-lib-jitsi-meet-2.6726.2' };

function sent(participant, action, nth = 0) {
    const found = participant.jingle.filter(j => j.dir === 'out' && j.action === action)[nth];
    if (!found) { throw new Error(`${participant.label} sent no ${action} #${nth}`); }
    return found.xml;
}

const written = [];
function write(lib, name, xml) {
    const target = path.join(dir, DIRS[lib], name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, `${xml}\n`);
    written.push(target);
}

for (const file of files) {
    const result = JSON.parse(fs.readFileSync(file, 'utf8'));
    const lib = result.args.lib;
    const [ first ] = result.participants;
    if (lib === 'dist215') {
        write(lib, 'session-accept.xml', sent(first, 'session-accept'));
        write(lib, 'transport-info.xml', sent(first, 'transport-info'));
        // Its answer to the first remote sources with an msid (see src/core/focus/jingle.rs).
        write(lib, 'source-remove-msid-flip.xml', sent(first, 'source-remove'));
        write(lib, 'source-add-msid-flip.xml', sent(first, 'source-add'));
    } else if (lib === 'lyno') {
        const late = result.participants.find(p => p.label === result.lateVideo);
        if (!late) { throw new Error(`${file}: not a --late-video run`); }
        const full = result.participants.find(p => p !== late);
        write(lib, 'session-accept.xml', sent(full, 'session-accept'));
        write(lib, 'transport-info.xml', sent(full, 'transport-info'));
        write(lib, 'session-accept-audio-only.xml', sent(late, 'session-accept'));
        write(lib, 'source-add.xml', sent(late, 'source-add'));
    } else {
        throw new Error(`${file}: unknown lib ${lib}`);
    }
}
console.log(written.join('\n'));
