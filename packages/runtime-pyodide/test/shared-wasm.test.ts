/// <reference path="../src/webassembly.d.ts" />
import { describe, expect, it } from 'vitest';
import { SharedWasm, instantiateWith, requestSharedWasm } from '../src/shared-wasm.js';

const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

describe('shared Pyodide binary', () => {
  it('is compiled once by the pool and handed to whoever asks on its channel', async () => {
    const shared = new SharedWasm();
    try {
      const [a, b] = await Promise.all([requestSharedWasm(shared.channel), requestSharedWasm(shared.channel)]);
      expect(a).toBeInstanceOf(WebAssembly.Module);
      expect(b).toBeInstanceOf(WebAssembly.Module);
    } finally {
      shared.close();
    }
  });

  it('closed while still compiling, it does not answer late (which would throw and end the process)', async () => {
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      const shared = new SharedWasm();
      // A worker asks, and the pool shuts down before the binary is compiled (a CLI command that ends early).
      const asking = requestSharedWasm(shared.channel, 300);
      await new Promise((r) => setTimeout(r, 5));
      shared.close();
      expect(await asking).toBeNull();
      await new Promise((r) => setTimeout(r, 500)); // the compile finishes meanwhile
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('is null when nobody answers, so the worker compiles its own', async () => {
    expect(await requestSharedWasm('insitu-wasm-nobody-serves-this', 50)).toBeNull();
  });

  it('replaces the next large binary once, and lets small ones through', async () => {
    const module = await WebAssembly.compile(EMPTY_MODULE);
    const garbage = new Uint8Array(2 << 20).fill(0xff); // would not compile
    instantiateWith(Promise.resolve(module));
    const small = await WebAssembly.instantiate(EMPTY_MODULE);
    expect(small.module).not.toBe(module);
    const large = await WebAssembly.instantiate(garbage);
    expect(large.module).toBe(module);
    await expect(WebAssembly.instantiate(garbage)).rejects.toThrow(); // the original function is back
  });

  it('falls back to compiling the bytes when no module came', async () => {
    instantiateWith(Promise.resolve(null));
    const big = new Uint8Array(2 << 20);
    big.set(EMPTY_MODULE);
    // A valid module followed by junk is still rejected: what matters is that the bytes were compiled.
    await expect(WebAssembly.instantiate(big)).rejects.toThrow(/WebAssembly|wasm|section|byte/i);
  });
});
