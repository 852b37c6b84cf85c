import { callOf, checkIdentifier, badInput, INPUT_TYPES, type ApplyCall, type InputType, type JsonValue, type Session, type TableProxy } from '@insitu/core';
import { SERVICE_DOP, type ServiceLevel } from '@insitu/server';
import type { SqlApplyRequest } from './sql-protocol.js';

/**
 * The arguments of an `insitu_*_eval` SQL call as the library's call value (the one serialisable
 * {@link ApplyCall} the sync path runs and jobs store): PAR_LST split into keyword arguments and the
 * anchor's controls, INPUT into a proxy (a table or view name, or a read-only SELECT through
 * `session.query` and its guard).
 */

/** PAR_LST controls (OML4Py's, plus `timeout` in seconds). Other `oml_*` keys are BAD_INPUT. */
const CONTROLS = new Set(['oml_input_type', 'oml_na_omit', 'oml_parallel_flag', 'oml_graphics_flag', 'oml_async_flag', 'oml_service_level', 'oml_connect', 'timeout']);
const ANCHOR_INPUT_TYPES: Readonly<Record<string, InputType>> = { default: 'auto', 'pandas.DataFrame': 'pandas' };

/** A call from SQL, ready to run or submit. */
export interface SqlCall {
  readonly call: ApplyCall;
  /** `oml_async_flag`: submit as a job and answer its id. */
  readonly async: boolean;
}

function parseParList(text: unknown): Record<string, JsonValue> {
  if (text === null || text === undefined) return {};
  if (typeof text !== 'string') throw badInput(`PAR_LST must be a JSON object text of keyword arguments (or NULL), got ${typeof text}`);
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw badInput(`PAR_LST must be a JSON object text of keyword arguments: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badInput('PAR_LST must be a JSON object of keyword arguments, such as \'{"alpha": 0.5}\'');
  return value as Record<string, JsonValue>;
}

function flag(v: JsonValue | undefined, name: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  throw badInput(`PAR_LST ${name} must be true or false`);
}

function positiveInt(v: unknown, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw badInput(`${what} must be a positive integer, got ${v === null || v === undefined ? 'NULL' : JSON.stringify(String(v))}`);
  return n;
}

function columnList(v: unknown, what: string, directions: boolean): string[] {
  if (typeof v !== 'string' || v.trim() === '') throw badInput(`${what} must be a comma-separated list of column names`);
  return v.split(',').map((raw) => {
    const m = directions ? /^(.*?)(?:\s+(ASC|DESC))?$/i.exec(raw.trim()) : null;
    const name = (m?.[1] ?? raw).trim();
    if (name === '') throw badInput(`${what} has an empty column name: give a comma-separated list of column names`);
    return m?.[2]?.toUpperCase() === 'DESC' ? `-${name}` : name;
  });
}

/** INPUT: a table or view name, else one read-only query (the query guard applies when it is read). */
function inputProxy(session: Session, input: unknown): TableProxy {
  if (typeof input !== 'string' || input.trim() === '') throw badInput('INPUT must be a table or view name or a read-only SELECT');
  const name = input.trim();
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(name) ? session.table(checkIdentifier(name, 'table')) : session.query(input);
}

/** Build the call of an SQL request as `session`'s user. BAD_INPUT names the argument at fault. */
export async function sqlCallOf(session: Session, req: SqlApplyRequest): Promise<SqlCall> {
  const params = parseParList(req.parList);
  for (const k of Object.keys(params)) {
    if (k.startsWith('oml_') && !CONTROLS.has(k)) throw badInput(`PAR_LST: unknown control ${k}; supported: ${[...CONTROLS].join(', ')}`);
  }
  const args: Record<string, JsonValue> = Object.fromEntries(Object.entries(params).filter(([k]) => !CONTROLS.has(k)));
  const hasData = req.kind === 'tableApply' || req.kind === 'rowApply' || req.kind === 'groupApply';
  const partitioned = req.kind === 'rowApply' || req.kind === 'groupApply' || req.kind === 'indexApply';
  let inputType: InputType | undefined;
  if (params['oml_input_type'] !== undefined) {
    const t = params['oml_input_type'];
    if (typeof t === 'string') inputType = Object.hasOwn(ANCHOR_INPUT_TYPES, t) ? ANCHOR_INPUT_TYPES[t] : (INPUT_TYPES as readonly string[]).includes(t) ? (t as InputType) : undefined;
    if (inputType === undefined) throw badInput(`PAR_LST oml_input_type ${JSON.stringify(t)} is not supported; use "default", "pandas.DataFrame" or one of ${INPUT_TYPES.join(', ')}`);
    if (!hasData) throw badInput('PAR_LST oml_input_type applies to the functions with INPUT only');
  }
  const naOmit = flag(params['oml_na_omit'], 'oml_na_omit');
  const parallelFlag = flag(params['oml_parallel_flag'], 'oml_parallel_flag');
  const graphics = flag(params['oml_graphics_flag'], 'oml_graphics_flag');
  const async = flag(params['oml_async_flag'], 'oml_async_flag');
  const service = (params['oml_service_level'] ?? 'LOW') as ServiceLevel;
  // Own keys only: 'toString' is `in` every object.
  if (typeof service !== 'string' || !Object.hasOwn(SERVICE_DOP, service)) throw badInput('PAR_LST oml_service_level must be LOW, MEDIUM or HIGH');
  // A job keeps the jobs' own default (30 min) unless PAR_LST gives a timeout.
  let timeoutMs: number | undefined = async ? undefined : req.timeoutMs;
  if (params['timeout'] !== undefined) {
    const t = params['timeout'];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 43_200) throw badInput('PAR_LST timeout must be a whole number of seconds from 1 to 43200');
    // A sync call holds the caller's thread and a host worker: register()'s limit (or the engine's) is
    // the application's ceiling, which the SQL text may lower, not raise. Longer work runs as a job.
    if (!async && t * 1000 > req.timeoutMs) {
      throw badInput(`PAR_LST timeout ${t} s is over this connection's limit of ${req.timeoutMs / 1000} s (register()'s timeoutMs); run a longer call as a job with "oml_async_flag": true`);
    }
    timeoutMs = t * 1000;
  }
  if (typeof req.script !== 'string' || req.script === '') throw badInput('SCR_NAME must be the name of a stored script');
  if (req.owner !== undefined && req.owner !== null && typeof req.owner !== 'string') throw badInput('SCR_OWNER must be a user name or NULL');
  const func = typeof req.owner === 'string' && req.owner !== '' ? { name: req.script, owner: req.owner } : req.script;
  let data: TableProxy | undefined;
  if (hasData) {
    data = inputProxy(session, req.input);
  } else if (naOmit) throw badInput('PAR_LST oml_na_omit applies to the functions with INPUT only');
  const options = {
    args,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(inputType === undefined ? {} : { inputType }),
    ...(naOmit ? { naOmit: true } : {}),
    // ORD_COL orders the rows within each group (the library's orderBy option), not the groups.
    ...(req.kind === 'groupApply' && typeof req.orderCols === 'string' && req.orderCols !== '' ? { orderBy: columnList(req.orderCols, 'ORD_COL', true) } : {}),
    ...(graphics ? { graphics: true } : {}),
    ...(req.kind === 'rowApply' ? { rows: positiveInt(req.rows, 'ROW_NUM') } : {}),
    ...(partitioned ? { parallel: parallelFlag ? SERVICE_DOP[service] : false } : {}),
  };
  const { call } = callOf(
    req.kind,
    {
      func,
      ...(data === undefined ? {} : { data }),
      ...(req.kind === 'groupApply' ? { by: columnList(req.groupCols, 'GRP_COL', false) } : {}),
      ...(req.kind === 'indexApply' ? { times: positiveInt(req.times, 'TIMES_NUM') } : {}),
    },
    options,
  );
  return { call, async };
}
