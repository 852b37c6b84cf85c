// Types for pg-cursor 2.x (it ships none): the part of its API the adapter uses.
declare module 'pg-cursor' {
  import type { Submittable } from 'pg';

  interface CursorField {
    readonly name: string;
    readonly dataTypeID: number;
  }

  interface CursorConfig {
    readonly rowMode?: 'array';
    readonly types?: { getTypeParser: (oid: number, format?: string) => (text: string) => unknown };
  }

  class Cursor implements Submittable {
    constructor(text: string, values?: unknown[], config?: CursorConfig);
    submit: Submittable['submit'];
    read(rows: number, cb: (err: Error | undefined, rows: unknown[][], result: { fields: CursorField[] }) => void): void;
    close(): Promise<void>;
  }

  export default Cursor;
}
