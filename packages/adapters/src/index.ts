/** @insitu/adapters: storage backends for insitu. */
export { SqliteStorage } from './sqlite/sqlite-storage.js';
export type { SqliteStorageOptions } from './sqlite/sqlite-storage.js';
export { MIGRATIONS } from './sqlite/sqlite-migrations.js';
export { PostgresStorage } from './postgres/pg-storage.js';
export type { PostgresStorageOptions } from './postgres/pg-storage.js';
export { isPostgresUrl, maskedUrl } from './postgres/pg-database.js';
export { PgTaskStore, PG_TASK_MIGRATION } from './postgres/pg-task-store.js';
