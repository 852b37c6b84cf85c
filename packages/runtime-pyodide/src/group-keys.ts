import type { Table } from 'apache-arrow';
import type { GroupKeyColumns } from './protocol.js';

/**
 * The keys of the groups a worker ran, collected one group at a time as plain values per key column
 * (what `Vector.get` returns). Not built as Arrow: a batch per group would cost per group, and Arrow's
 * builders generate code from strings, which the sandbox forbids.
 */
export class GroupKeys {
  readonly #by: readonly string[];
  readonly #columns: unknown[][];

  /** Keys made of the columns `by`. */
  constructor(by: readonly string[]) {
    this.#by = by;
    this.#columns = by.map(() => []);
  }

  /** Record the key of `group` (read from its first row). */
  add(group: Table): void {
    this.#by.forEach((name, c) => this.#columns[c]!.push(group.getChild(name)!.get(0) ?? null));
  }

  /** The keys collected, one value per group in each column; null when there are none. */
  toWire(): GroupKeyColumns | null {
    return this.#columns[0]!.length === 0 ? null : { names: this.#by, columns: this.#columns };
  }
}
