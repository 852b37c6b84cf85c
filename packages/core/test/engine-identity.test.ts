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
});
