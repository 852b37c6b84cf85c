import { badInput, type JobStatus, type Session } from '@insitu/core';
import type { CatalogName } from './sql-protocol.js';

/**
 * The catalog functions' rows: OML4Py's script, datastore and job views as SQL, computed by the
 * library's own calls as the session's user, so they show exactly what that user may see.
 */

/** A catalog row: column name to SQL value. */
export type CatalogRow = Record<string, number | string | null>;

/** Each catalog function's columns (and the SQL arguments it takes, as hidden parameters). */
export const CATALOG: Readonly<Record<CatalogName, { readonly fn: string; readonly columns: readonly string[]; readonly parameters: readonly string[] }>> = {
  scripts: { fn: 'insitu_scripts', columns: ['NAME', 'OWNER', 'GLOBAL', 'DESCRIPTION', 'CREATED', 'SCRIPT'], parameters: [] },
  datastores: { fn: 'insitu_datastores', columns: ['NAME', 'OWNER', 'DESCRIPTION', 'GRANTABLE', 'NOBJ', 'SIZE', 'CREATED'], parameters: [] },
  datastore_contents: { fn: 'insitu_datastore_contents', columns: ['DATASTORE', 'OWNER', 'OBJNAME', 'CLASS', 'SIZE', 'LENGTH', 'NROW', 'NCOL'], parameters: ['ds_name', 'ds_owner'] },
  grants: { fn: 'insitu_grants', columns: ['TYPE', 'OWNER', 'NAME', 'GRANTEE'], parameters: [] },
  jobs: {
    fn: 'insitu_jobs',
    columns: ['JOB_ID', 'KIND', 'FUNC', 'STATE', 'ORIGIN', 'CREATED', 'STARTED', 'FINISHED', 'ELAPSED_MS', 'PARTITIONS_DONE', 'PARTITIONS_TOTAL', 'ROWS_DONE', 'ERROR_CODE', 'ERROR_MESSAGE'],
    parameters: [],
  },
  schedule_runs: { fn: 'insitu_schedule_runs', columns: ['SCHEDULE', 'JOB_ID', 'RUN_TRIGGER', 'DUE', 'STARTED', 'FINISHED', 'STATE', 'STDOUT', 'ERROR_CODE', 'ERROR_MESSAGE'], parameters: [] },
  job_status: { fn: 'insitu_job_status', columns: ['JOB_ID', 'STATE', 'STATUS', 'CREATED', 'STARTED', 'FINISHED', 'ERROR_CODE', 'ERROR_MESSAGE'], parameters: ['jid'] },
};

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function jobRow(j: JobStatus): CatalogRow {
  return {
    JOB_ID: j.id,
    KIND: j.kind,
    FUNC: j.func,
    STATE: j.state,
    ORIGIN: j.origin ?? null,
    CREATED: iso(j.created),
    STARTED: iso(j.started),
    FINISHED: iso(j.finished),
    ELAPSED_MS: j.elapsedMs,
    PARTITIONS_DONE: j.progress.partitionsDone,
    PARTITIONS_TOTAL: j.progress.partitionsTotal ?? null,
    ROWS_DONE: j.progress.rowsDone,
    ERROR_CODE: j.error?.code ?? null,
    ERROR_MESSAGE: j.error?.message ?? null,
  };
}

/** `insitu_job_status(id)`: one row; STATUS is the anchor's text ("job is still running" until it ends). */
export async function jobStatusRows(session: Session, args: readonly unknown[]): Promise<CatalogRow[]> {
  const id = args[0];
  if (typeof id !== 'string' || id === '') throw badInput('insitu_job_status takes the job id a call with oml_async_flag answered');
  const j = await session.jobs.status(id);
  const running = j.state === 'queued' || j.state === 'running';
  const { JOB_ID, STATE, CREATED, STARTED, FINISHED, ERROR_CODE, ERROR_MESSAGE } = jobRow(j);
  return [{ JOB_ID, STATE, STATUS: running ? 'job is still running' : `job ${j.state}`, CREATED, STARTED, FINISHED, ERROR_CODE, ERROR_MESSAGE }];
}

/** The rows of a catalog function as `session`'s user. */
export async function catalogRows(session: Session, name: CatalogName, args: readonly unknown[]): Promise<CatalogRow[]> {
  switch (name) {
    case 'scripts': {
      const infos = await session.scripts.list({ type: 'all' });
      const out: CatalogRow[] = [];
      for (const s of infos) {
        // By owner: a bare name resolves to the caller's private script first, which would show its
        // source on another owner's global script of the same name.
        const full = await session.scripts.load(s.name, { owner: s.owner }).catch(() => null);
        out.push({ NAME: s.name, OWNER: s.owner, GLOBAL: s.global ? 1 : 0, DESCRIPTION: s.description, CREATED: iso(s.created), SCRIPT: full?.source ?? null });
      }
      return out;
    }
    case 'datastores':
      return (await session.datastores.list({ type: 'all' })).map((d) => ({
        NAME: d.name,
        OWNER: d.owner,
        DESCRIPTION: d.description,
        GRANTABLE: d.grantable ? 1 : 0,
        NOBJ: d.objectCount,
        SIZE: d.size,
        CREATED: iso(d.created),
      }));
    case 'datastore_contents': {
      const [ds, owner] = args;
      if (typeof ds !== 'string' || ds === '') throw badInput('insitu_datastore_contents takes a datastore name (and optionally its owner)');
      if (owner !== undefined && owner !== null && typeof owner !== 'string') throw badInput('insitu_datastore_contents owner must be a user name or NULL');
      const who = typeof owner === 'string' && owner !== '' ? owner : session.user;
      return (await session.datastores.describe(ds, { owner: who })).map((o) => ({
        DATASTORE: ds,
        OWNER: who,
        OBJNAME: o.name,
        CLASS: o.class,
        SIZE: o.size,
        LENGTH: o.length,
        NROW: o.rows,
        NCOL: o.columns,
      }));
    }
    case 'grants': {
      const rows: CatalogRow[] = [];
      for (const type of ['grant', 'granted'] as const) {
        for (const s of await session.scripts.list({ type })) rows.push({ TYPE: 'pyqscript', OWNER: s.owner, NAME: s.name, GRANTEE: s.grantee ?? session.user });
        for (const d of await session.datastores.list({ type })) rows.push({ TYPE: 'datastore', OWNER: d.owner, NAME: d.name, GRANTEE: d.grantee ?? session.user });
      }
      return rows;
    }
    case 'jobs':
      return (await session.jobs.list({ limit: 10_000 })).map(jobRow);
    case 'schedule_runs':
      return (await session.scheduler.runs({ limit: 10_000 })).map((r) => ({
        SCHEDULE: r.schedule,
        JOB_ID: r.jobId,
        RUN_TRIGGER: r.trigger,
        DUE: iso(r.due),
        STARTED: iso(r.started),
        FINISHED: iso(r.finished),
        STATE: r.state,
        STDOUT: r.stdout,
        ERROR_CODE: r.error?.code ?? null,
        ERROR_MESSAGE: r.error?.message ?? null,
      }));
    case 'job_status':
      return jobStatusRows(session, args);
  }
}
