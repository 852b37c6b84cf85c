import {
  Binary,
  Bool,
  DataType,
  DateDay,
  Field,
  Float64,
  Int32,
  Int64,
  Null,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  makeData,
  vectorFromArray,
  type Data,
  type Vector,
} from 'apache-arrow';

/**
 * The column kinds insitu moves between storage, Arrow and Python. Storage adapters read into these,
 * the runtime hands them to Python, and Python results come back as them.
 */
export type ColumnKind = 'int64' | 'int32' | 'float64' | 'utf8' | 'binary' | 'bool' | 'date' | 'timestamp' | 'null';

/** The Arrow type of a kind: Int64, Int32, Float64, Utf8, Binary, Bool, Date32<DAY>, Timestamp<ms>, Null. */
export function arrowTypeOf(kind: ColumnKind): DataType {
  switch (kind) {
    case 'int64':
      return new Int64();
    case 'int32':
      return new Int32();
    case 'float64':
      return new Float64();
    case 'utf8':
      return new Utf8();
    case 'binary':
      return new Binary();
    case 'bool':
      return new Bool();
    case 'date':
      return new DateDay();
    case 'timestamp':
      return new TimestampMillisecond();
    case 'null':
      return new Null();
  }
}

/** An Arrow schema of nullable fields with these names and kinds. */
export function schemaOf(names: readonly string[], kinds: readonly ColumnKind[]): Schema {
  return new Schema(names.map((n, i) => new Field(n, arrowTypeOf(kinds[i]!), true)));
}

/** A one-batch Arrow table from finished column data of `length` rows. */
export function tableOfColumns(schema: Schema, columns: readonly Data[], length: number): Table {
  const struct = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children: [...columns] });
  return new Table([new RecordBatch(schema, struct)]);
}

/** The kind an Arrow type is stored and handed to Python as, or null when insitu cannot hold it. */
export function kindOfArrowType(t: DataType): ColumnKind | null {
  if (DataType.isBool(t)) return 'bool';
  if (DataType.isInt(t)) return t.bitWidth <= 16 || (t.bitWidth === 32 && t.isSigned) ? 'int32' : 'int64';
  if (DataType.isFloat(t) || DataType.isDecimal(t)) return 'float64';
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t)) return 'utf8';
  if (DataType.isDictionary(t)) return kindOfArrowType(t.dictionary);
  if (DataType.isBinary(t) || DataType.isLargeBinary(t) || DataType.isFixedSizeBinary(t)) return 'binary';
  if (DataType.isDate(t)) return 'date';
  if (DataType.isTimestamp(t)) return 'timestamp';
  if (DataType.isNull(t)) return 'null';
  return null;
}

/**
 * The kind a field is stored and handed to Python as (see {@link kindOfArrowType}); a Float64 field
 * marked as 64-bit integers given as numbers (`int64: 'number'` results) is `int64` again.
 */
export function kindOfArrowField(f: Field): ColumnKind | null {
  if (DataType.isFloat(f.type) && f.metadata.get('insitu:int64') === 'true') return 'int64';
  return kindOfArrowType(f.type);
}

/** Whether a column of type `t` is already laid out exactly as its kind (no conversion needed). */
function isCanonical(t: DataType, kind: ColumnKind): boolean {
  return String(t) === String(arrowTypeOf(kind));
}

/**
 * The table with every column in its canonical kind (dictionaries decoded, small ints widened, floats
 * to Float64, ...), so that storage and Python see only the kinds they know. Unsupported types are
 * reported through `onUnsupported`.
 */
export function canonicalTable(table: Table, onUnsupported: (column: string, type: DataType) => never): Table {
  const kinds = table.schema.fields.map((f) => kindOfArrowField(f) ?? onUnsupported(f.name, f.type));
  if (table.schema.fields.every((f, i) => isCanonical(f.type, kinds[i]!))) return table;
  const columns: Record<string, Vector> = {};
  table.schema.fields.forEach((f, i) => {
    const col = table.getChild(f.name)!;
    const kind = kinds[i]!;
    if (isCanonical(f.type, kind)) {
      columns[f.name] = col;
      return;
    }
    const values = Array.from({ length: col.length }, (_, r) => {
      const v = col.get(r) as unknown;
      if (v === null || v === undefined) return null;
      if (kind === 'int64') return typeof v === 'bigint' ? v : BigInt(Math.trunc(v as number));
      if (kind === 'int32' || kind === 'float64') return Number(v);
      return v;
    });
    columns[f.name] = vectorFromArray(values, arrowTypeOf(kind));
  });
  return new Table(columns);
}
