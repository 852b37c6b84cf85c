/** @insitu/core: the engine API, independent of any database driver or Python runtime. */
export { ErrorCode, InsituError, badInput, deserializeError, toInsituError } from './errors.js';
export type { InsituErrorDetails, SerializedError } from './errors.js';
export { checkColumnName, checkIdentifier, quoteIdentifier, MAX_COLUMN_NAME_LENGTH, MAX_IDENTIFIER_LENGTH } from './identifiers.js';
export { findNonJson, MAX_JSON_DEPTH } from './values.js';
export { arrowTypeOf, canonicalTable, kindOfArrowField, kindOfArrowType, schemaOf, tableOfColumns } from './column-kind.js';
export type { ColumnKind } from './column-kind.js';
export type { CellValue, JsonValue, RowObject, SqlParam } from './values.js';
export { JOB_STATES, PUBLIC } from './storage.js';
export type { QueryCompiler, QueryPlan } from './query-plan.js';
export type {
  DatastoreInfo,
  DatastoreListType,
  DatastoreStorage,
  GroupRange,
  JobOutcome,
  JobState,
  JobStorage,
  NewJob,
  StoredJob,
  StoredJobProgress,
  Grant,
  GrantKind,
  GrantStorage,
  ObjectFormat,
  ObjectInfo,
  SaveMode,
  ScriptListType,
  StoredObject,
  StoredScriptGrant,
  CreateTableOptions,
  CreateTableRequest,
  QuerySpec,
  ScanChunk,
  ScanOptions,
  TableScan,
  ScriptFilter,
  ScriptStorage,
  Storage,
  StoredScript,
  TableSink,
  TableStorage,
} from './storage.js';
export { INPUT_TYPES } from './runtime.js';
export type { ContextMode, GroupOutcome, HostApi, Image, InputType, OrderKey, RunOptions, Runtime, ScriptInspection, Task, TaskInput, TaskOutcome, TaskValue } from './runtime.js';
export { Lifecycle } from './lifecycle.js';
export { TableProxy } from './table-proxy.js';
export type { ProxySource } from './data-plan.js';
export { ScriptRepository } from './script-repository.js';
export type { CreateScriptOptions, ListScriptsOptions, Script, ScriptInfo } from './script-repository.js';
export { APPLY_KINDS, CALL_OPTION_NAMES, callOf, checkApplyCall, checkFuncRef, splitOptions } from './apply-call.js';
export type { ApplyCall, ApplyKind, CallControls, CallOptions } from './apply-call.js';
export { decodePlan, encodePlan } from './data-plan.js';
export type { DataPlan } from './data-plan.js';
export { decodeScalar, encodeScalar } from './json-params.js';
export type { JsonScalar } from './json-params.js';
export { decodeResult, encodeResult } from './result-codec.js';
export { ProgressReporter, PROGRESS_INTERVAL_MS } from './progress-reporter.js';
export type {
  ApplyProgress,
  ApplyOptions,
  DataApplyOptions,
  FuncRef,
  GroupApplyOptions,
  IndexApplyOptions,
  OnError,
  OrderWithinOptions,
  ParallelOptions,
  PartitionFailureOptions,
  RowApplyOptions,
} from './apply-options.js';
export { BYTES_KEY, hasBytes, mapBytes, parseTree, treeToJson } from './result-tree.js';
export type { ResultTree } from './result-tree.js';
export { MANIFEST_FILE } from './script-transfer.js';
export { INT64_METADATA, INT64_MODES, checkInt64Mode, int64AsNumbers, isInt64AsNumber } from './int64-values.js';
export type { Int64Mode } from './int64-values.js';
export type { ExportScriptsOptions, ImportScriptsOptions, ManifestEntry } from './script-transfer.js';
export type { ApplyResult, CallImage, FailedPartition, PartitionResult, ResultValue } from './result-assembly.js';
export { INTO_MODES, checkInto } from './into-target.js';
export type { IntoMode, IntoSummary, IntoTarget } from './into-target.js';
export { EnvironmentService } from './environment-service.js';
export type { CreateEnvironmentOptions, EnvironmentInfo } from './environment-service.js';
export { DEFAULT_ENVIRONMENT, checkEnvironmentName, checkPackageNames, checkPackagePolicy, normalizePackageName } from './packages.js';
export type { PackageArchive, PackageInfo, PackagePolicy, PackageSet, PackageSource, ResolveOptions } from './packages.js';
export type { ChunkKey, PartitionKey } from './partition.js';
export type { CellKey } from './partition-key.js';
export { keyOf, sameKey } from './partition-key.js';
export { Session } from './session.js';
export type { SessionSql, SqlBinder, SqlConnection, SqlRegisterOptions } from './session-sql.js';
export type { ApplyDefaults } from './apply-runner.js';
export { ResultBudget, ResultLease } from './result-budget.js';
export {
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT,
  checkByteCount,
  checkResultLimits,
  formatBytes,
  resultTooLarge,
} from './result-limits.js';
export type { ResultLimits } from './result-limits.js';
export { groupOutcomesBytes, jsonBytes, outcomeBytes, tableBytes } from './result-size.js';
export { asInsituError, withBoundary } from './error-boundary.js';
export { abortError } from './ordered-runner.js';
export type { PartitionSink } from './partition-emitter.js';
export { Engine, DEFAULT_USER } from './engine.js';
export { heldLeases, type HeldLeases } from './thread-leases.js';
export { JobService, DEFAULT_JOB_RETENTION_MS, DEFAULT_JOB_TIMEOUT_MS, DEFAULT_MAX_JOB_TIMEOUT_MS } from './job-service.js';
export type { JobProgress, JobSettings, JobSpec, JobStatus, ListJobsOptions, WaitJobOptions } from './job-types.js';
export { SessionJobs } from './session-jobs.js';
export type { CloseOptions, EngineSettings, SessionOptions } from './engine.js';
export { DatastoreService, DatastoreSteps } from './datastore-service.js';
export { hostApiFor, syncHostApiFor, withContextSession } from './host-api.js';
export type { ContextSession, ContextSessionStorage } from './context-session.js';
export { runAsync, runSync, step } from './steps.js';
export type { MaybeSync, Steps, Synchronous } from './steps.js';
export type { ListDatastoresOptions, LoadDatastoreOptions, SaveDatastoreOptions } from './datastore-service.js';
export { PythonObject, tableFromStored } from './host-values.js';
export type { DatastoreValue } from './host-values.js';
export { GrantService } from './grant-service.js';
export type { VisibleScriptRef } from './script-visibility.js';
export type { GrantTarget } from './grant-service.js';
export { leadingKeyword } from './sql-text.js';
export { checkUserName } from './user-names.js';
export type { StoredCredentials, StoredUser, UserDeletion, UserObjects, UserStorage } from './user-storage.js';
export type { AuthStorage } from './auth-storage.js';
export type { NewRun, NewSchedule, RunOutcome, RunTrigger, ScheduleAdvance, ScheduleStorage, StoredRun, StoredSchedule } from './schedule-storage.js';
export { checkSchedule, firstRun, nextRun, MIN_EVERY_MS } from './schedule-spec.js';
export { SchedulerService, scheduleOrigin } from './scheduler-service.js';
export { SessionScheduler } from './session-scheduler.js';
export type { CreateScheduleOptions, ListRunsOptions, RunState, ScheduleInfo, ScheduleJobs, ScheduleRun, SchedulerSettings } from './scheduler-types.js';
export type { Schedule, ScheduleSpec } from './schedule-spec.js';
export { UserDirectory, checkUserMode } from './user-directory.js';
export type { UserMode } from './user-directory.js';
export { UserService } from './user-service.js';
export { TableAdmin } from './table-admin.js';
export { tableNotFound, tableOwnerOnly, tableWriteRefused } from './table-errors.js';
export { UNOWNED_TABLES, checkUnownedTables } from './table-privilege-storage.js';
export type { TableAccessLevel, TableGrant, TableOwnership, TablePrivilege, TablePrivilegeStorage, UnownedTables } from './table-privilege-storage.js';
export type { CreateUserOptions, DropUserOptions, DroppedUser, UserInfo } from './user-service.js';
export type { ClaimedTask, FinishedTask, NewTask, TaskRef, TaskResult, TaskStorage } from './task-storage.js';
export { checkServeSettings } from './serve-settings.js';
export type { ServeSettings } from './serve-settings.js';
