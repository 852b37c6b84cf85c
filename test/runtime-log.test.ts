import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { createEngine, type RuntimeLogEntry } from 'insitu';
import { rejectsWith } from './helpers.js';

const CRASH = 'import ctypes\ndef f():\n    return ctypes.string_at(0xFFFFFF00, 1000)';
const FATAL = 'Pyodide has suffered a fatal error';

describe('runtime log', () => {
  it("hands Pyodide's fatal-error report to onRuntimeLog in 'thread' isolation", async () => {
    const log: RuntimeLogEntry[] = [];
    const engine = await createEngine({ database: ':memory:', workers: 1, isolation: 'thread', onRuntimeLog: (e) => log.push(e) });
    try {
      const s = engine.session();
      await rejectsWith(s.doEval({ source: CRASH }), 'RUNTIME_ERROR');
      await vi.waitFor(() => {
        expect(log.find((l) => l.message.includes(FATAL))).toMatchObject({ source: 'worker', level: 'error', threadId: expect.any(Number) });
        expect(log.some((l) => l.message.includes('memory access out of bounds'))).toBe(true);
      }, { timeout: 5000 });
      expect((await s.doEval({ source: 'def f():\n    return 1' })).value).toBe(1);
    } finally {
      await engine.close();
    }
  });

  it('writes it to stderr prefixed insitu: by default, in both isolation modes, and nothing unprefixed', () => {
    const script = fileURLToPath(new URL('./fixtures/crash-logger.mjs', import.meta.url));
    const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 90_000 });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').pop()!)).toEqual([
      { isolation: 'process', code: 'RUNTIME_ERROR', after: 'alive' },
      { isolation: 'thread', code: 'RUNTIME_ERROR', after: 'alive' },
    ]);
    const lines = child.stderr.split('\n').filter((l) => l !== '');
    expect(lines.filter((l) => !l.startsWith('insitu: '))).toEqual([]);
    expect(lines.filter((l) => /^insitu: \[worker \d+\] error: Pyodide has suffered a fatal error/.test(l))).toHaveLength(2);
  });
});
