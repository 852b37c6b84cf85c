import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * Test fixtures for packages without network: pure-Python wheels written here (zip archives, entries
 * stored uncompressed) and a local package index (a `pyodide-lock.json` beside them), as a mirror of
 * Pyodide's index would hold them.
 */

/** A zip archive of `files` (name -> text), entries stored uncompressed. */
export function zipOf(files: Record<string, string>): Uint8Array {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const nameBytes = Buffer.from(name, 'utf8');
    const data = Buffer.from(text, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(0x0800, 8);
    entry.writeUInt16LE(0, 10);
    entry.writeUInt16LE(0, 12);
    entry.writeUInt16LE(0x21, 14);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    central.push(entry, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const n = Object.keys(files).length;
  end.writeUInt16LE(n, 8);
  end.writeUInt16LE(n, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, end]));
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
