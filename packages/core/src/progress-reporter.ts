import type { ApplyProgress } from './apply-options.js';

/** Smallest gap between two progress reports of one call. */
export const PROGRESS_INTERVAL_MS = 100;

/**
 * Counts a call's finished partitions and rows and reports them to `onProgress` at most every
 * {@link PROGRESS_INTERVAL_MS} (a report due inside the gap is sent when the gap ends), and once more
 * at `finish()`. A throwing listener is ignored: progress never fails a call.
 */
export class ProgressReporter {
  readonly #listener: ((p: ApplyProgress) => void) | undefined;
  #done = 0;
  #rows = 0;
  #total: number | undefined;
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #finished = false;

  /** Report to `listener` (none: counting only). */
  constructor(listener: ((p: ApplyProgress) => void) | undefined) {
    this.#listener = listener;
  }

  /** Whether anyone listens (figures that cost work are computed only then). */
  get listening(): boolean {
    return this.#listener !== undefined;
  }

  /** The figures so far. */
  get current(): ApplyProgress {
    return { partitionsDone: this.#done, ...(this.#total === undefined ? {} : { partitionsTotal: this.#total }), rowsDone: this.#rows };
  }

  /** Set the number of partitions, once known. */
  total(n: number): void {
    this.#total = n;
  }

  /** Count `partitions` more partitions done, holding `rows` input rows. */
  done(partitions: number, rows: number): void {
    this.#done += partitions;
    this.#rows += rows;
    if (this.#listener === undefined || this.#finished || this.#timer !== undefined) return;
    const wait = this.#last + PROGRESS_INTERVAL_MS - Date.now();
    if (wait <= 0) this.#emit();
    else this.#timer = setTimeout(() => this.#emit(), wait);
  }

  /** Send the last report (the call is over, whichever way) and stop. Idempotent. */
  finish(): void {
    if (this.#finished) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#emit();
    this.#finished = true;
  }

  #emit(): void {
    this.#timer = undefined;
    if (this.#finished || this.#listener === undefined) return;
    this.#last = Date.now();
    try {
      this.#listener(this.current);
    } catch {
      // A listener's failure is its own; the call goes on.
    }
  }
}
