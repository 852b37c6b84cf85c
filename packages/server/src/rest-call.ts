import { badInput, checkEnvironmentName, type InputType, type JsonValue } from '@insitu/core';

/**
 * A REST apply request as one plain, JSON round-trippable value: what to run, on what, with which
 * options. Sync requests run it at once; async ones (with the jobs API) will persist it.
 */

/** The five apply endpoints. */
export type RestApplyKind = 'do-eval' | 'table-apply' | 'row-apply' | 'group-apply' | 'index-apply';

/** OML4Py service levels. */
export type ServiceLevel = 'LOW' | 'MEDIUM' | 'HIGH';

/** Highest degree of parallelism of each service level, as on Autonomous Database (the engine caps it at its workers). */
export const SERVICE_DOP: Readonly<Record<ServiceLevel, number>> = { LOW: 2, MEDIUM: 4, HIGH: 8 };

/** The engine's default Python environment; `envName` may name it (or be omitted). */
export const DEFAULT_ENV = 'default';

/** A parsed apply request. */
export interface RestCall {
  readonly kind: RestApplyKind;
  /** The stored script, and its owner when the path names one. */
  readonly func: { readonly name: string; readonly owner?: string };
  /** The input query (table, row and group apply). */
  readonly input?: string;
  /** Keyword arguments for the UDF (from `parameters`, without the `oml_*` controls). */
  readonly args: Readonly<Record<string, JsonValue>>;
  /** How the UDF gets its data (`oml_input_type`). */
  readonly inputType?: InputType;
  /** Drop input rows with a NULL in any column first (`oml_na_omit`). */
  readonly naOmit: boolean;
  /** Rows per chunk (row apply). */
  readonly rows?: number;
  /** Grouping columns (group apply). */
  readonly groupBy?: readonly string[];
  /** Order within groups, `COL` or `-COL` (descending) per term (group apply). */
  readonly orderBy?: readonly string[];
  /** Number of calls (index apply). */
  readonly times?: number;
  /** Degree of parallelism (1: serial). */
  readonly parallel: number;
  /** Answer `{ID, DATA, IMAGE}` entries (and save the matplotlib figures left open). */
  readonly graphics: boolean;
  /** The named environment the call runs in (`envName`); absent: the default one. */
  readonly env?: string;
  /** Run as a job (201 + Location) instead of waiting. */
  readonly async: boolean;
  /** Seconds the call may run. */
  readonly timeoutS?: number;
  /** The service level (caps the degree of parallelism; queue priority for jobs). */
  readonly service: ServiceLevel;
}

/** The body fields of an apply request (validated by the route's JSON schema first). */
export interface ApplyBody {
  parameters?: string | Record<string, JsonValue>;
  input?: string;
  rows?: number;
  groupBy?: string;
  orderBy?: string;
  times?: number;
  parallelFlag?: boolean;
  parallel?: number;
  graphicsFlag?: boolean;
  asyncFlag?: boolean;
  timeout?: number;
  service?: ServiceLevel;
  envName?: string | null;
}

const COMMON = {
  parameters: { type: ['string', 'object'], maxLength: 1_048_576 },
  graphicsFlag: { type: 'boolean' },
  asyncFlag: { type: 'boolean' },
  timeout: { type: 'integer', minimum: 1, maximum: 43_200 },
  service: { type: 'string', enum: ['LOW', 'MEDIUM', 'HIGH'] },
  envName: { type: ['string', 'null'], maxLength: 256 },
} as const;
const INPUT = { input: { type: 'string', minLength: 1, maxLength: 1_048_576 } } as const;
const PARALLEL = { parallelFlag: { type: 'boolean' }, parallel: { type: 'integer', minimum: 1, maximum: 1024 } } as const;
const COLUMNS = { type: 'string', minLength: 1, maxLength: 4096 } as const;

/** JSON schema of each endpoint's body: unknown fields and wrong types are 400. */
export const BODY_SCHEMAS: Readonly<Record<RestApplyKind, object>> = {
  'do-eval': { type: 'object', additionalProperties: false, properties: { ...COMMON } },
  'table-apply': { type: 'object', additionalProperties: false, required: ['input'], properties: { ...COMMON, ...INPUT } },
  'row-apply': {
    type: 'object',
    additionalProperties: false,
    required: ['input'],
    properties: { ...COMMON, ...INPUT, ...PARALLEL, rows: { type: 'integer', minimum: 1, maximum: 2 ** 31 } },
  },
  'group-apply': {
    type: 'object',
    additionalProperties: false,
    required: ['input', 'groupBy'],
    properties: { ...COMMON, ...INPUT, ...PARALLEL, groupBy: COLUMNS, orderBy: COLUMNS },
  },
  'index-apply': {
    type: 'object',
    additionalProperties: false,
    required: ['times'],
    properties: { ...COMMON, ...PARALLEL, times: { type: 'integer', minimum: 1, maximum: 1_000_000 } },
  },
};

const INPUT_TYPES: Readonly<Record<string, InputType>> = {
  default: 'auto',
  'pandas.DataFrame': 'pandas',
  // insitu's own input types, beyond the anchor's.
  auto: 'auto',
  pandas: 'pandas',
  frame: 'frame',
  records: 'records',
  columns: 'columns',
};

/** Controls read from `parameters` and not passed to the UDF. */
const CONTROLS = new Set(['oml_input_type', 'oml_na_omit', 'oml_connect']);
const HAS_DATA: ReadonlySet<RestApplyKind> = new Set(['table-apply', 'row-apply', 'group-apply']);

/** `parameters`: a JSON text (or, beyond the anchor, an object) of keyword arguments and `oml_*` controls. */
function parseParameters(parameters: ApplyBody['parameters']): Record<string, JsonValue> {
  if (parameters === undefined) return {};
  let value: unknown = parameters;
  if (typeof parameters === 'string') {
    if (parameters.trim() === '') return {};
    try {
      value = JSON.parse(parameters);
    } catch (e) {
      throw badInput(`parameters must be a JSON object text of keyword arguments: ${(e as Error).message}`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badInput('parameters must be a JSON object of keyword arguments');
  return value as Record<string, JsonValue>;
}

/** A comma-separated list of column names (`COL` or, in orderBy, `COL DESC`). */
function columnList(text: string, what: string, directions: boolean): string[] {
  return text.split(',').map((raw) => {
    const term = raw.trim();
    const m = directions ? /^(.*?)(?:\s+(ASC|DESC))?$/i.exec(term) : null;
    const name = (m?.[1] ?? term).trim();
    if (name === '') throw badInput(`${what} has an empty column name: give a comma-separated list of column names`);
    return m?.[2]?.toUpperCase() === 'DESC' ? `-${name}` : name;
  });
}

/** Build the call of a `kind` request for script `name` (of `owner`) from its body. BAD_INPUT names the field. */
export function restCallOf(kind: RestApplyKind, name: string, owner: string | undefined, body: ApplyBody): RestCall {
  const env = body.envName === undefined || body.envName === null || body.envName === '' || body.envName === DEFAULT_ENV ? undefined : checkEnvironmentName(body.envName, 'envName');
  const params = parseParameters(body.parameters);
  for (const k of Object.keys(params)) {
    if (k.startsWith('oml_') && !CONTROLS.has(k)) throw badInput(`parameters: unknown control argument ${k}; supported: ${[...CONTROLS].join(', ')}`);
  }
  // Own properties only (a "__proto__" key stays a keyword argument, never a prototype).
  const args: Record<string, JsonValue> = Object.fromEntries(Object.entries(params).filter(([k]) => !k.startsWith('oml_')));
  const control = params as { oml_input_type?: unknown; oml_na_omit?: unknown };
  let inputType: InputType | undefined;
  if (control.oml_input_type !== undefined) {
    if (!HAS_DATA.has(kind)) throw badInput(`parameters: oml_input_type applies to table-apply, row-apply and group-apply, not ${kind}`);
    inputType = typeof control.oml_input_type === 'string' ? INPUT_TYPES[control.oml_input_type] : undefined;
    if (inputType === undefined) {
      throw badInput(`parameters: oml_input_type ${JSON.stringify(control.oml_input_type)} is not supported; use "default", "pandas.DataFrame" or one of auto, frame, records, columns (numpy.recarray needs numpy, which this server does not have)`);
    }
  }
  const naOmit = control.oml_na_omit ?? false;
  if (typeof naOmit !== 'boolean') throw badInput('parameters: oml_na_omit must be true or false');
  if (naOmit && !HAS_DATA.has(kind)) throw badInput(`parameters: oml_na_omit applies to table-apply, row-apply and group-apply, not ${kind}`);
  const service = body.service ?? 'LOW';
  // The engine caps the degree at its worker count.
  const cap = SERVICE_DOP[service];
  let parallel = 1;
  if (body.parallelFlag !== false && body.parallel !== undefined) parallel = Math.min(body.parallel, cap);
  else if (body.parallelFlag === true) parallel = cap;
  return {
    kind,
    func: owner === undefined ? { name } : { name, owner },
    ...(body.input === undefined ? {} : { input: body.input }),
    args,
    ...(inputType === undefined ? {} : { inputType }),
    naOmit,
    ...(body.rows === undefined ? {} : { rows: body.rows }),
    ...(body.groupBy === undefined ? {} : { groupBy: columnList(body.groupBy, 'groupBy', false) }),
    ...(body.orderBy === undefined ? {} : { orderBy: columnList(body.orderBy, 'orderBy', true) }),
    ...(body.times === undefined ? {} : { times: body.times }),
    parallel: Math.max(1, parallel),
    graphics: body.graphicsFlag === true,
    ...(env === undefined ? {} : { env }),
    async: body.asyncFlag === true,
    ...(body.timeout === undefined ? {} : { timeoutS: body.timeout }),
    service,
  };
}
