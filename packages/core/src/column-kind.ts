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
  type Data,
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
