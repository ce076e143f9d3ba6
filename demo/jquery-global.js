// @lyno/lib-jitsi-meet's UMD wrapper reads jQuery from the global `jquery` (lower case); without
// it `new JitsiConnection` throws "(0 , c.default) is not a function". A file rather than an
// inline script, because the page's Content-Security-Policy allows no inline scripts.
'use strict';
window.jquery = window.jQuery;
