// matchbook's uWebSockets.js compatibility layer (README.md here): exactly the part of the uWS
// API the servers use, over node:http / node:https and `ws`, typed as uWS so callers do not
// change. ops/uws-app.ts chooses it when the native binary does not load (Node 22/24) or when
// MATCHBOOK_UWS=compat.

export { App, SSLApp, us_listen_socket_close, us_socket_local_port } from './app.js';
