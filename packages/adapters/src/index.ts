/** @insitu/adapters: storage backends for insitu. */
export { SqliteStorage } from './sqlite/sqlite-storage.js';
export type { SqliteStorageOptions } from './sqlite/sqlite-storage.js';
export { MIGRATIONS } from './sqlite/sqlite-migrations.js';
export { PgTaskStore, PG_TASK_MIGRATION } from './postgres/pg-task-store.js';
