/**
 * insitu: run Python user-defined functions next to data in SQLite or PostgreSQL, from Node, in warm Pyodide workers.
 * `createEngine()` wires the defaults; everything else is re-exported from the packages it is made of.
 */
export { createEngine } from './create-engine.js';
export type { EngineOptions } from './create-engine.js';
export * from '@insitu/core';
export { PostgresStorage, SqliteStorage } from '@insitu/adapters';
export type { PostgresStorageOptions, SqliteStorageOptions } from '@insitu/adapters';
export { createServer, createApp } from './rest-server.js';
export type { RestServer, ServerOptions, RestErrorBody, RestApplyKind, RestCall, ServiceLevel, IssuedToken } from '@insitu/server';
export { PyodidePackageIndex, PyodideRuntime, SandboxRuntime, defaultWorkers, findBubblewrap, prepareSnapshot } from '@insitu/runtime-pyodide';
export type { OsSandbox, PackageIndexOptions, PreparedSnapshot, PyodideRuntimeOptions, RuntimeLogEntry, RuntimeLogLevel, RuntimeLogSink } from '@insitu/runtime-pyodide';
