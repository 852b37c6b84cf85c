import { callOf, type ApplyCall, type ApplyKind, type ApplyResult, type FuncRef, type Session, type TableProxy } from '@insitu/core';
import type { RestApplyKind, RestCall } from './rest-call.js';

/** The library's apply kind of each REST endpoint. */
export const APPLY_KIND_OF: Readonly<Record<RestApplyKind, ApplyKind>> = {
  'do-eval': 'doEval',
  'table-apply': 'tableApply',
  'row-apply': 'rowApply',
  'group-apply': 'groupApply',
  'index-apply': 'indexApply',
};

/** The REST endpoint of each apply kind (how a job's result is shaped). */
export const REST_KIND_OF: Readonly<Record<ApplyKind, RestApplyKind>> = {
  doEval: 'do-eval',
  tableApply: 'table-apply',
  rowApply: 'row-apply',
  groupApply: 'group-apply',
  indexApply: 'index-apply',
};

/** The proxy of a call's input: its query, rows with a NULL dropped when `naOmit`, ordered by `orderBy`. */
async function inputOf(session: Session, call: RestCall): Promise<TableProxy> {
  let proxy = session.query(call.input ?? '');
  if (call.naOmit) {
    const columns = await proxy.columns();
    if (columns.length > 0) proxy = proxy.withoutNulls(columns);
  }
  if (call.orderBy !== undefined && call.orderBy.length > 0) proxy = proxy.orderBy(...call.orderBy);
  return proxy;
}

/**
 * A REST request as the library's call value ({@link ApplyCall}): what the sync path runs now and the
 * async path submits as a job, so both run the same call. `timeout` becomes `timeoutMs`.
 */
export async function applyCallOf(session: Session, call: RestCall): Promise<ApplyCall> {
  const func: FuncRef = call.func.owner === undefined ? call.func.name : { name: call.func.name, owner: call.func.owner };
  const kind = APPLY_KIND_OF[call.kind];
  const hasData = kind === 'tableApply' || kind === 'rowApply' || kind === 'groupApply';
  const options = {
    args: call.args,
    // REST answers are shaped from Arrow's own Int64 columns (numbers or text past 2^53, Int64 in Arrow
    // responses), whatever the engine gives library callers.
    int64: 'bigint' as const,
    ...(call.timeoutS === undefined ? {} : { timeoutMs: call.timeoutS * 1000 }),
    ...(hasData && call.inputType !== undefined ? { inputType: call.inputType } : {}),
    ...(kind === 'rowApply' && call.rows !== undefined ? { rows: call.rows } : {}),
    ...(kind === 'rowApply' || kind === 'groupApply' || kind === 'indexApply' ? { parallel: call.parallel > 1 ? call.parallel : false } : {}),
    ...(call.env === undefined ? {} : { env: call.env }),
    ...(call.graphics ? { graphics: true } : {}),
  };
  const parts = {
    func,
    ...(hasData ? { data: await inputOf(session, call) } : {}),
    ...(kind === 'groupApply' ? { by: call.groupBy ?? [] } : {}),
    ...(kind === 'indexApply' ? { times: call.times ?? 1 } : {}),
  };
  return callOf(kind, parts, options).call;
}

/** Run a call now, as `session`'s user; `signal` aborts it (a client that hung up). */
export async function runCall(session: Session, call: RestCall, signal: AbortSignal): Promise<ApplyResult> {
  return session.run(await applyCallOf(session, call), { signal });
}
