import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { engineIsDead, newEngineId, releaseEngineId } from '../dist/engine-identity.js';

describe('engine ids', () => {
  it('an engine of another thread of this process is never taken for dead; one of this thread is once released', async () => {
    const mine = newEngineId();
    expect(engineIsDead(mine)).toBe(false);
    // An engine made in a worker thread (the SQL host's) registers in that thread's module instance.
    const url = new URL('../dist/engine-identity.js', import.meta.url).href;
    const theirs = await new Promise<string>((resolve, reject) => {
      const w = new Worker(`import(${JSON.stringify(url)}).then((m) => require('node:worker_threads').parentPort.postMessage(m.newEngineId()))`, { eval: true });
      w.once('message', (id: string) => {
        resolve(id);
        void w.terminate();
      });
      w.once('error', reject);
    });
    expect(theirs).not.toBe(mine);
    expect(engineIsDead(theirs)).toBe(false);
    releaseEngineId(mine);
    expect(engineIsDead(mine)).toBe(true);
  });

  it('a pid is probed only for an id of this very host: another host (or a namesake machine) is never dead by pid', () => {
    // A pid that certainly runs nothing here: a child that has exited.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const here = newEngineId().replace(/:\d+(\.\d+)?:[0-9a-f]{8}$/, '');
    expect(engineIsDead(`${here}:${deadPid}:0123abcd`)).toBe(true);
    expect(engineIsDead(`another-host.example:${deadPid}:0123abcd`)).toBe(false);
    // On Linux the host part also names this boot and PID namespace: a machine (or container) that only
    // shares the host name is another host.
    if (here !== hostname()) {
      expect(here.startsWith(`${hostname()}#`)).toBe(true);
      expect(engineIsDead(`${hostname()}:${deadPid}:0123abcd`)).toBe(false);
      expect(engineIsDead(`${hostname()}#00000000:${deadPid}:0123abcd`)).toBe(false);
    }
  });
});
