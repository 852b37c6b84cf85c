import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCode, InsituError, badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';

/**
 * Script export and import files (OML's script repository export/import): a directory holding one
 * `NAME.py` per script and a manifest, {@link MANIFEST_FILE}, listing them with their owner, scope and
 * description. The repository decides what may be exported and imported (see `ScriptRepository`).
 */

/** The manifest's file name inside an export directory. */
export const MANIFEST_FILE = 'insitu-scripts.json';

/** Largest script file import reads (a script is source text, not data). */
export const MAX_SCRIPT_FILE_BYTES = 16 * 2 ** 20;

/** One script in a manifest. */
export interface ManifestEntry {
  readonly name: string;
  /** Who owned it where it was exported (an import makes the importing user its owner). */
  readonly owner: string;
  readonly global: boolean;
  readonly description: string;
  /** Its source file, a plain file name in the same directory. */
  readonly file: string;
}

/** A script read back from an export directory. */
export interface ImportedScript extends ManifestEntry {
  readonly source: string;
}

/** Options of `scripts.export()`. */
export interface ExportScriptsOptions {
  /** The directory to write (created if missing). Files of the same names are replaced. */
  readonly dir: string;
  /** The scripts to export (each as `load` finds it). Default: your private scripts. */
  readonly names?: readonly string[];
}

/** Options of `scripts.import()`. */
export interface ImportScriptsOptions {
  /** A directory written by `scripts.export()`. */
  readonly dir: string;
  /** Replace scripts of the same names (in the same scope). Default false: one that exists fails the import. */
  readonly overwrite?: boolean;
}

function checkDir(dir: unknown, what: string): string {
  if (typeof dir !== 'string' || dir.trim() === '') throw badInput(`${what} needs dir: the directory path as a string`);
  return dir;
}

/** Write `entries` with their sources into `dir`: the source files first, the manifest last. */
export async function writeExport(dirOpt: unknown, entries: readonly ImportedScript[]): Promise<void> {
  const dir = checkDir(dirOpt, 'scripts.export()');
  try {
    await mkdir(dir, { recursive: true });
    for (const e of entries) await writeAtomically(join(dir, e.file), e.source);
    const manifest = { version: 1, scripts: entries.map(({ source: _s, ...entry }) => entry) };
    await writeAtomically(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  } catch (e) {
    throw new InsituError(ErrorCode.STORAGE_ERROR, `scripts.export() could not write ${dir}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, 'utf8');
  await rename(tmp, path);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Read an export directory: its manifest and every script it lists. Anything malformed — no manifest,
 * bad JSON, a field of the wrong type, a file name that is not a plain `.py` name in the directory, a
 * missing or oversized file, a name twice in one scope — is BAD_INPUT naming it; nothing is returned.
 */
export async function readExport(dirOpt: unknown): Promise<ImportedScript[]> {
  const dir = checkDir(dirOpt, 'scripts.import()');
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (e) {
    throw badInput(`scripts.import(): ${join(dir, MANIFEST_FILE)} cannot be read (${e instanceof Error ? e.message : String(e)}); give a directory written by scripts.export()`);
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw badInput(`scripts.import(): ${MANIFEST_FILE} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(manifest) || manifest.version !== 1 || !Array.isArray(manifest.scripts)) {
    throw badInput(`scripts.import(): ${MANIFEST_FILE} must be { "version": 1, "scripts": [...] }`);
  }
  const seen = new Set<string>();
  const out: ImportedScript[] = [];
  for (const [i, raw] of (manifest.scripts as unknown[]).entries()) {
    const at = `${MANIFEST_FILE} scripts[${i}]`;
    if (!isObject(raw)) throw badInput(`scripts.import(): ${at} must be an object { name, owner, global, description, file }`);
    const name = checkIdentifier(raw.name, `${at} script`);
    if (typeof raw.owner !== 'string') throw badInput(`scripts.import(): ${at}.owner must be a string`);
    if (typeof raw.global !== 'boolean') throw badInput(`scripts.import(): ${at}.global must be true or false`);
    if (typeof raw.description !== 'string') throw badInput(`scripts.import(): ${at}.description must be a string`);
    const file = raw.file;
    if (typeof file !== 'string' || basename(file) !== file || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*\.py$/.test(file)) {
      throw badInput(`scripts.import(): ${at}.file must be a plain .py file name in the export directory, got ${JSON.stringify(file)}`);
    }
    const scope = `${raw.global ? 'global' : 'private'} ${name}`;
    if (seen.has(scope)) throw badInput(`scripts.import(): ${MANIFEST_FILE} lists the ${scope.replace(' ', ' script ')} twice`);
    seen.add(scope);
    let source: Buffer;
    try {
      source = await readFile(join(dir, file));
    } catch (e) {
      throw badInput(`scripts.import(): ${file} (script ${name}) cannot be read (${e instanceof Error ? e.message : String(e)})`);
    }
    if (source.byteLength > MAX_SCRIPT_FILE_BYTES) throw badInput(`scripts.import(): ${file} is larger than ${MAX_SCRIPT_FILE_BYTES} bytes`);
    let decoded: string;
    try {
      decoded = new TextDecoder('utf-8', { fatal: true }).decode(source);
    } catch {
      throw badInput(`scripts.import(): ${file} (script ${name}) is not UTF-8 text`);
    }
    out.push({ name, owner: raw.owner, global: raw.global, description: raw.description, file, source: decoded });
  }
  return out;
}
