/** @insitu/server: OML4Py's REST API for embedded Python execution over an insitu engine. */
export { createServer } from './create-server.js';
export type { RestServer } from './create-server.js';
export { createApp } from './create-app.js';
export type { ServerOptions } from './server-options.js';
export { RestCode } from './rest-errors.js';
export type { RestErrorBody } from './rest-errors.js';
export { SERVICE_DOP } from './rest-call.js';
export type { RestApplyKind, RestCall, ServiceLevel } from './rest-call.js';
export type { IssuedToken } from './token-service.js';
export { groupKeyText, restResult, rowsOf } from './rest-result.js';
