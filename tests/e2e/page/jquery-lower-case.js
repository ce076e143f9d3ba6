// @lyno/lib-jitsi-meet's UMD wrapper reads jQuery from the global `jquery` (lower case); without
// it `new JitsiConnection` throws "(0 , c.default) is not a function".
window.jquery = window.jQuery;
