import { quoteIdentifier, type ApplyResult, type FuncRef, type Session, type TableProxy } from '@insitu/core';
import type { RestCall } from './rest-call.js';

/** The proxy of a call's input: its query, rows with a NULL dropped when `naOmit`, ordered by `orderBy`. */
async function inputOf(session: Session, call: RestCall): Promise<TableProxy> {
  let proxy = session.query(call.input ?? '');
  if (call.naOmit) {
    const columns = await proxy.columns();
    if (columns.length > 0) proxy = proxy.where(columns.map((c) => `${quoteIdentifier(c)} IS NOT NULL`).join(' AND '));
  }
  if (call.orderBy !== undefined && call.orderBy.length > 0) proxy = proxy.orderBy(...call.orderBy);
  return proxy;
}

/** Run a call now, as `session`'s user; `signal` aborts it (a client that hung up). */
export async function runCall(session: Session, call: RestCall, signal: AbortSignal): Promise<ApplyResult> {
  const func: FuncRef = call.func.owner === undefined ? call.func.name : { name: call.func.name, owner: call.func.owner };
  const base = { args: call.args, signal, ...(call.timeoutS === undefined ? {} : { timeoutMs: call.timeoutS * 1000 }) };
  const data = { ...base, ...(call.inputType === undefined ? {} : { inputType: call.inputType }) };
  const parallel = call.parallel > 1 ? call.parallel : false;
  switch (call.kind) {
    case 'do-eval':
      return session.doEval(func, base);
    case 'table-apply':
      return session.tableApply(await inputOf(session, call), func, data);
    case 'row-apply':
      return session.rowApply(await inputOf(session, call), func, { ...data, parallel, ...(call.rows === undefined ? {} : { rows: call.rows }) });
    case 'group-apply':
      return session.groupApply(await inputOf(session, call), call.groupBy ?? [], func, { ...data, parallel });
    case 'index-apply':
      return session.indexApply(call.times ?? 1, func, { ...base, parallel });
  }
}
