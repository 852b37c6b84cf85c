import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine, type RuntimeLogEntry, type Session } from 'insitu';
import { tempDatabase } from './helpers.js';

// A secret in the engine process's environment that no UDF may see.
process.env['INSITU_TEST_SECRET'] = 'do-not-leak-42';

let engine: Engine;
let me: Session;
const db = tempDatabase();
/** What the runtime printed: a denied system() is a fatal interpreter error, which Pyodide reports. */
const runtimeLog: RuntimeLogEntry[] = [];

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2, onRuntimeLog: (e) => runtimeLog.push(e) }); // default isolation: 'process'
  me = engine.session({ user: 'mallory' });
  await me.create('SAFE', [{ a: 1 }]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

/** Run `body` as a UDF; resolve to its value, or to 'refused: CODE' when it failed. */
async function attempt(body: string): Promise<unknown> {
  const source = `def f():\n${body.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
  return me.doEval({ source }).then(
    (r) => r.value,
    (e: { code: string }) => `refused: ${e.code}`,
  );
}

const ESCAPES: Record<string, string> = {
  'os.system': 'import os\nreturn os.system("touch /tmp/insitu-pwned")',
  'posix.system': 'import posix\nreturn posix.system("touch /tmp/insitu-pwned")',
  'ctypes system()': 'import ctypes\nreturn ctypes.CDLL(None).system(b"touch /tmp/insitu-pwned")',
  subprocess: 'import subprocess\nreturn subprocess.run(["id"]).returncode',
  'read a host file': 'return open("/etc/passwd").read()',
  'read this repo': 'return open("/work/main/package.json").read()',
  'js module': 'import js\nreturn str(js.process.env)',
  'js after popping sys.modules': 'import sys\nsys.modules.pop("js", None)\nimport js\nreturn js.process.pid',
  'pyodide_js mount': 'import pyodide_js\npyodide_js.mountNodeFS("/host", "/")\nreturn open("/host/etc/passwd").read()',
  'importlib pyodide_js': 'import importlib\nreturn str(importlib.import_module("pyodide_js"))',
  run_js: 'from pyodide.code import run_js\nreturn run_js("process.pid")',
  'Function constructor via a JS proxy': 'import _insitu_host\nF = _insitu_host.ds.constructor.constructor\nreturn F("return process.env.INSITU_TEST_SECRET")()',
  'dynamic import via a JS proxy': 'import _insitu_host\nF = _insitu_host.query.constructor.constructor\nreturn str(F("return import(\\"node:fs\\")")())',
  'JS through an exception': 'import _insitu_host\ntry:\n    _insitu_host.ds.call.apply(None, [1, 2])\nexcept Exception as e:\n    err = e.js_error\n    return err.constructor.constructor("return process.pid")()\nraise RuntimeError("no exception raised")',
  'pyfetch (started)': 'from pyodide.http import pyfetch\ncoro = pyfetch("http://127.0.0.1:1/")\nreturn str(coro.send(None))',
  'open_url': 'from pyodide.http import open_url\nreturn open_url("http://127.0.0.1:1/").read()',
  urllib: 'import urllib.request\nreturn urllib.request.urlopen("http://127.0.0.1:1/").read()',
  'environment variable': 'import os\nv = os.environ.get("INSITU_TEST_SECRET")\nif v is None:\n    raise LookupError("not visible")\nreturn v',
};

describe('sandbox (default isolation)', () => {
  for (const [name, body] of Object.entries(ESCAPES)) {
    it(`blocks ${name}, and the engine keeps serving`, async () => {
      const result = await attempt(body);
      expect(String(result)).toMatch(/^refused: /);
      expect(JSON.stringify(result)).not.toContain('do-not-leak-42');
      expect((await me.doEval({ source: 'def f():\n    return "alive"' })).value).toBe('alive');
      expect(await me.table('SAFE').count()).toBe(1);
    });
  }

  it('reports the denied system() as the fatal interpreter error it is, through the runtime log', async () => {
    runtimeLog.length = 0;
    expect(await attempt(ESCAPES['ctypes system()']!)).toBe('refused: RUNTIME_ERROR');
    await vi.waitFor(() => {
      const report = runtimeLog.findIndex((l) => l.message.includes('Pyodide has suffered a fatal error'));
      expect(report).toBeGreaterThanOrEqual(0);
      expect(runtimeLog.slice(report).some((l) => l.message.includes('ERR_ACCESS_DENIED'))).toBe(true);
    }, { timeout: 5000 });
  });

  it('lets no bytes out through sockets', async () => {
    const net = await import('node:net');
    let received = 0;
    let connections = 0;
    const server = net.createServer((c) => {
      connections++;
      c.on('data', (d) => (received += d.length));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const result = await attempt(
        `import socket, time\ns = socket.socket()\ntry:\n    s.connect(("127.0.0.1", ${port}))\n    s.sendall(b"exfiltrate" * 100)\n    time.sleep(0.2)\nexcept OSError as e:\n    return "refused: " + str(e)\nreturn "sent"`,
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(received, `UDF said: ${String(result)}`).toBe(0);
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
    expect((await me.doEval({ source: 'def f():\n    return "alive"' })).value).toBe('alive');
  });

  it('left no trace on the host', async () => {
    const { existsSync } = await import('node:fs');
    expect(existsSync('/tmp/insitu-pwned')).toBe(false);
  });

  it('still gives UDFs their data, datastores and database context', async () => {
    const r = await me.tableApply(me.table('SAFE'), {
      source: 'import insitu\ndef f(df):\n    insitu.ds.save({"n": len(df)}, "sb", overwrite=True)\n    return [len(df), insitu.ds.load("sb")["n"], insitu.connect().query("select a from SAFE").to_dict()]',
    });
    expect(r.value).toEqual([1, 1, { a: [1] }]);
  });
});

describe("isolation: 'thread' (trusted code only)", () => {
  it('is not a boundary: the JS bridge is reachable there, as documented', async () => {
    const trusted = await createEngine({ database: ':memory:', workers: 1, isolation: 'thread' });
    try {
      const r = await trusted.session().doEval({ source: 'import js\ndef f():\n    return js.process.env.INSITU_TEST_SECRET' });
      expect(r.value).toBe('do-not-leak-42');
    } finally {
      await trusted.close();
    }
  });
});
