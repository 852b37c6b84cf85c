import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';

/**
 * Test fixtures for packages without network: pure-Python wheels written here (zip archives, entries
 * stored uncompressed) and a local package index (a `pyodide-lock.json` beside them), as a mirror of
 * Pyodide's index would hold them.
 */

/** A zip archive of `files` (name -> text), entries stored uncompressed (fflate writes it). */
export function zipOf(files: Record<string, string>): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(files).map(([name, text]) => [name, strToU8(text)])), { level: 0, mtime: new Date(1980, 0, 1) });
}

/** A pure-Python wheel of distribution `dist` (version 1.0) holding `modules` (module path -> source). */
export function wheelOf(dist: string, modules: Record<string, string>): { fileName: string; bytes: Uint8Array } {
  const norm = dist.replace(/[-.]+/g, '_');
  const info = `${norm}-1.0.dist-info`;
  const bytes = zipOf({
    ...modules,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${dist}\nVersion: 1.0\n`,
    [`${info}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: insitu-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    [`${info}/RECORD`]: '',
  });
  return { fileName: `${norm}-1.0-py3-none-any.whl`, bytes };
}

/** A package of a test mirror: its wheel's modules, its dependencies, and optionally a wrong recorded hash. */
export interface MirrorPackage {
  readonly modules: Record<string, string>;
  readonly depends?: readonly string[];
  /** Record this SHA-256 in the lock file instead of the wheel's own (an archive that does not match). */
  readonly sha256?: string;
  /** Write these bytes as the archive instead of a wheel of `modules` (recorded with their own hash). */
  readonly raw?: Uint8Array;
}

/** Write a local package index into `dir`: one wheel per package and a `pyodide-lock.json` listing them. */
export function writeMirror(dir: string, packages: Record<string, MirrorPackage>): void {
  mkdirSync(dir, { recursive: true });
  const entries: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(packages)) {
    const wheel = wheelOf(name, p.modules);
    const fileName = wheel.fileName;
    const bytes = p.raw ?? wheel.bytes;
    writeFileSync(join(dir, fileName), bytes);
    entries[name] = {
      name,
      version: '1.0',
      file_name: fileName,
      install_dir: 'site',
      sha256: p.sha256 ?? createHash('sha256').update(bytes).digest('hex'),
      package_type: 'package',
      imports: Object.keys(p.modules).map((m) => m.split('/')[0]),
      depends: p.depends ?? [],
    };
  }
  const lock = { info: { arch: 'wasm32', platform: 'emscripten', version: 'test', python: '3.14' }, packages: entries };
  writeFileSync(join(dir, 'pyodide-lock.json'), JSON.stringify(lock, null, 1));
}

/** A small valid PNG (a 1x1 grey pixel), as the tests' UDFs build it with zlib and struct. */
export const PNG_SOURCE = `
import struct, zlib

def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

def tiny_png(shade=128):
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(bytes([0, shade]))
    return b"\\x89PNG\\r\\n\\x1a\\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")
`;
