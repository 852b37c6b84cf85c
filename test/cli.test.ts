// The `insitu` command, spawned as a user runs it: real files, a real database, real workers; a
// pseudo-terminal (util-linux `script`) for the progress bar; SIGINT for Ctrl-C.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from 'insitu';
import { tempDatabase } from './helpers.js';

const CLI = fileURLToPath(new URL('../packages/insitu/dist/cli.js', import.meta.url));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  bytes: Buffer;
}

/** Run the CLI with `args` (in `cwd`), optionally feeding `input`; `onStart` gets the child (for signals). */
function cli(args: readonly string[], opts: { cwd: string; input?: string; onStart?: (child: ReturnType<typeof spawn>) => void }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...process.env, INSITU_USER: 'carol' } });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (stderr += String(b)));
    child.on('error', reject);
    child.on('close', (code) => {
      const bytes = Buffer.concat(out);
      resolve({ code, stdout: bytes.toString('utf8'), stderr, bytes });
    });
    child.stdin.end(opts.input ?? '');
    opts.onStart?.(child);
  });
}

describe('insitu CLI', () => {
  const db = tempDatabase('app.db');
  const cwd = db.dir;
  const base = ['--database', 'app.db'];

  beforeAll(async () => {
    const engine = await createEngine({ database: db.path, workers: 1, isolation: 'thread' });
    await engine.session({ user: 'carol' }).create('T', Array.from({ length: 10 }, (_, i) => ({ ID: i + 1, X: (i + 1) / 2, G: i % 2 === 0 ? 'even' : 'odd' })));
    await engine.close();
    writeFileSync(
      join(cwd, 'score.py'),
      [
        'def score(df, k=1):',
        '    print(f"scoring {len(df)} rows")',
        '    return {"ID": list(df["ID"]), "S": [x * k for x in df["X"]]}',
        '',
        'def broken(df):',
        '    total = 0',
        '    raise ValueError("no score for you")',
        '',
      ].join('\n'),
    );
    writeFileSync(join(cwd, 'slow.py'), 'import time\nimport insitu\n\ndef slow(df):\n    insitu.connect().execute("INSERT INTO DONE VALUES (?)", [df["ID"][0]])\n    time.sleep(0.3)\n    return {"ID": list(df["ID"])}\n');
  });
  afterAll(() => db.cleanup());

  it('runs a .py file over a table in chunks: CSV when piped, the UDF output per partition on stderr, exit 0', async () => {
    const r = await cli(['run', 'score.py', ...base, '--table', 'T', '--rows', '4', '--arg', 'k=2'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['ID,S', ...Array.from({ length: 10 }, (_, i) => `${i + 1},${i + 1}`)]);
    expect(r.stderr).toContain('[chunk 1] scoring 4 rows\n[chunk 2] scoring 4 rows\n[chunk 3] scoring 2 rows\n');
    // Not a terminal: no progress bar.
    expect(r.stderr).not.toContain('partitions');
  });

  it('prints JSON or Arrow IPC when asked, and groups with --by', async () => {
    const json = await cli(['run', 'score.py', ...base, '--query', 'SELECT * FROM T WHERE ID <= ?', '--param', '2', '--format', 'json'], { cwd });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([{ ID: 1, S: 0.5 }, { ID: 2, S: 1 }]);
    const arrow = await cli(['run', 'score.py', ...base, '--table', 'T', '--by', 'G', '--format', 'arrow'], { cwd });
    expect(arrow.code, arrow.stderr).toBe(0);
    const t = tableFromIPC(arrow.bytes);
    expect(t.schema.fields.map((f) => f.name)).toEqual(['G', 'ID', 'S']);
    expect(t.numRows).toBe(10);
    expect(arrow.stderr).toContain('[G=even] scoring 5 rows');
  });

  it("a Python error exits 1 with the traceback pointing at the file's own lines", async () => {
    const r = await cli(['run', 'score.py', '--function', 'broken', ...base, '--table', 'T'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PYTHON_ERROR');
    expect(r.stderr).toContain(`File "${join(cwd, 'score.py')}", line 7, in broken`);
    expect(r.stderr).toContain('ValueError: no score for you');
    const missing = await cli(['run', 'score.py', ...base, '--table', 'NOPE'], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('TABLE_NOT_FOUND');
  });

  it('usage errors exit 2, --help exits 0', async () => {
    const unknown = await cli(['run', 'score.py', ...base, '--bogus'], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    const conflict = await cli(['run', 'score.py', ...base, '--table', 'T', '--times', '3'], { cwd });
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('--mode index takes no --table or --query');
    const help = await cli(['run', '--help'], { cwd });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--into <table>');
  });

  it('--into writes the table, --append adds to it, and the rows are reported', async () => {
    const r = await cli(['run', 'score.py', ...base, '--table', 'T', '--rows', '3', '--into', 'SCORES'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('10 rows written into SCORES (create)\n');
    const again = await cli(['run', 'score.py', ...base, '--table', 'T', '--into', 'SCORES'], { cwd });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ALREADY_EXISTS');
    const append = await cli(['run', 'score.py', ...base, '--table', 'T', '--into', 'SCORES', '--append'], { cwd });
    expect(append.stdout).toBe('10 rows written into SCORES (append)\n');
    const engine = await createEngine({ database: db.path, workers: 1, isolation: 'thread' });
    try {
      expect(await engine.session({ user: 'carol' }).table('SCORES').count()).toBe(20);
    } finally {
      await engine.close();
    }
  });

  it('draws a progress bar on a terminal (partitions, rows/s), none with --quiet', async () => {
    const cmd = `'${process.execPath}' '${CLI}' run slow.py --database app.db --table T --rows 1 --format json --context write`;
    await execInDb(db.path, 'CREATE TABLE IF NOT EXISTS DONE (ID INTEGER)');
    const shown = await pty(cmd, cwd);
    expect(shown.code).toBe(0);
    expect(shown.output).toMatch(/10\/10 partitions \| 10 rows \| \d+ rows\/s/);
    const quiet = await pty(`${cmd} --quiet`, cwd);
    expect(quiet.code).toBe(0);
    expect(quiet.output).not.toContain('partitions');
  });

  it('Ctrl-C cancels the call: partitions stop, --into leaves the target as it was, exit 130', async () => {
    await execInDb(db.path, 'CREATE TABLE IF NOT EXISTS DONE (ID INTEGER)');
    await execInDb(db.path, 'DELETE FROM DONE');
    const r = await cli(['run', 'slow.py', ...base, '--table', 'T', '--rows', '1', '--context', 'write', '--into', 'SCORES', '--replace'], {
      cwd,
      onStart: (child) => {
        // Interrupt once the first partition has committed its row.
        const poll = setInterval(() => {
          void countDone(db.path).then((n) => {
            if (n >= 1) {
              clearInterval(poll);
              child.kill('SIGINT');
            }
          });
        }, 50);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('cancelling');
    expect(r.stderr).toContain('CANCELLED');
    expect(await countDone(db.path)).toBeLessThan(10);
    const engine = await createEngine({ database: db.path, workers: 1, isolation: 'thread' });
    try {
      expect(await engine.session({ user: 'carol' }).table('SCORES').count()).toBe(20);
    } finally {
      await engine.close();
    }
  });

  it('scripts: create from a file, ls, show, export and import; stored scripts run by name', async () => {
    const created = await cli(['scripts', 'create', 'score.py', ...base, '--description', 'scores'], { cwd });
    expect(created.code, created.stderr).toBe(0);
    const ls = await cli(['scripts', 'ls', ...base], { cwd });
    expect(JSON.parse(ls.stdout).map((s: { name: string; description: string }) => [s.name, s.description])).toEqual([['score', 'scores']]);
    const show = await cli(['scripts', 'show', 'score', ...base], { cwd });
    expect(show.stdout).toContain('def score(df, k=1):');
    const byName = await cli(['run', 'score', ...base, '--table', 'T', '--format', 'json', '--args', '{"k": 10}'], { cwd });
    expect(JSON.parse(byName.stdout)[0]).toEqual({ ID: 1, S: 5 });
    const exported = await cli(['scripts', 'export', 'exported', ...base], { cwd });
    expect(exported.code, exported.stderr).toBe(0);
    const dropped = await cli(['scripts', 'drop', 'score', ...base], { cwd });
    expect(dropped.code).toBe(0);
    const imported = await cli(['scripts', 'import', 'exported', ...base], { cwd });
    expect(imported.stderr).toContain('1 scripts imported');
    expect((await cli(['scripts', 'show', 'score', ...base, '--user', 'dave'], { cwd })).code).toBe(1);
  });

  it('jobs: run --async queues a job this short-lived engine does not run; status, ls and cancel see it', async () => {
    const sub = await cli(['run', 'score.py', ...base, '--table', 'T', '--async'], { cwd });
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    const status = await cli(['jobs', 'status', id, ...base], { cwd });
    expect(JSON.parse(status.stdout).state).toBe('queued');
    const ls = await cli(['jobs', 'ls', ...base], { cwd });
    expect(JSON.parse(ls.stdout).map((j: { id: string }) => j.id)).toContain(id);
    const result = await cli(['jobs', 'result', id, ...base], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('NOT_READY');
    const cancel = await cli(['jobs', 'cancel', id, ...base], { cwd });
    expect(JSON.parse(cancel.stdout).state).toBe('cancelled');
  });

  it('schedules and datastores: create from JSON, ls, disable; ds ls', async () => {
    writeFileSync(join(cwd, 'nightly.json'), JSON.stringify({ name: 'nightly', func: { source: 'def f():\n    return 1' }, schedule: { cron: '0 3 * * *' }, enabled: true }));
    const made = await cli(['schedules', 'create', 'nightly.json', ...base], { cwd });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toContain('schedule nightly created, next run');
    const off = await cli(['schedules', 'disable', 'nightly', ...base], { cwd });
    expect(JSON.parse(off.stdout).enabled).toBe(false);
    const ls = await cli(['schedules', 'ls', ...base], { cwd });
    expect(JSON.parse(ls.stdout).map((s: { name: string }) => s.name)).toEqual(['nightly']);
    const ds = await cli(['ds', 'ls', ...base], { cwd });
    expect(JSON.parse(ds.stdout)).toEqual([]);
  });

  it('users: add (password from stdin), passwd, rm; the old spellings still work', async () => {
    const add = await cli(['users', 'add', 'erin', ...base], { cwd, input: 'correct horse\n' });
    expect(add.code, add.stderr).toBe(0);
    const passwd = await cli(['users', 'password', 'erin', ...base], { cwd, input: 'battery staple\n' });
    expect(passwd.code, passwd.stderr).toBe(0);
    const engine = await createEngine({ database: db.path, workers: 1, isolation: 'thread' });
    try {
      expect(await engine.users.authenticate('erin', 'battery staple')).toBe(true);
    } finally {
      await engine.close();
    }
    const rm = await cli(['users', 'rm', 'erin', ...base], { cwd });
    expect(rm.code, rm.stderr).toBe(0);
    const again = await cli(['users', 'rm', 'erin', ...base], { cwd });
    expect(again.code).toBe(1);
  });
});

/** Run a shell command line under a pseudo-terminal (util-linux `script`); its whole output. */
function pty(command: string, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env: { ...process.env, INSITU_USER: 'carol', COLUMNS: '120' } });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += String(b)));
    child.stderr.on('data', (b: Buffer) => (output += String(b)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** One statement on the database beside the CLI (as the table's owner would, through the library). */
async function execInDb(path: string, sql: string): Promise<void> {
  const engine = await createEngine({ database: path, workers: 1, isolation: 'thread', osSandbox: 'none' });
  try {
    const me = engine.session({ user: 'carol' });
    await me.doEval({ source: `import insitu\ndef f():\n    insitu.connect().execute(${JSON.stringify(sql)})` }, { context: 'write' });
  } finally {
    await engine.close();
  }
}

/** Rows in DONE, read directly from the file (a reader never blocks the CLI's writers in WAL mode). */
async function countDone(path: string): Promise<number> {
  const { default: Database } = await import('better-sqlite3');
  const raw = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (raw.prepare('SELECT count(*) AS n FROM DONE').get() as { n: number }).n;
  } finally {
    raw.close();
  }
}
