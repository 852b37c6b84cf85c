import cliProgress from 'cli-progress';
import type { ApplyProgress } from '@insitu/core';

/**
 * The progress bar `insitu run` draws on stderr while a call runs (only on a terminal, and not with
 * `--quiet`): partitions done of their total, input rows per second and the time left. Calls whose
 * number of partitions is not known in advance (groupApply) show the count without a bar.
 */
export class ProgressBar {
  readonly #bar: cliProgress.SingleBar;
  readonly #started = Date.now();
  #shown = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#bar = new cliProgress.SingleBar(
      {
        stream,
        format: (options, params, payload: { rows: number; rate: string; known: boolean }) => {
          const bar = payload.known ? `${cliProgress.Format.BarFormat(params.progress, options)} ` : '';
          const total = payload.known ? `/${params.total}` : '';
          const eta = payload.known && params.value > 0 && params.value < params.total ? ` | ETA ${cliProgress.Format.TimeFormat(params.eta, options, 1)}` : '';
          return `${bar}${params.value}${total} partitions | ${payload.rows} rows | ${payload.rate} rows/s${eta}`;
        },
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  /** Show the figures of an `onProgress` report. */
  update(p: ApplyProgress): void {
    const seconds = Math.max((Date.now() - this.#started) / 1000, 0.001);
    const payload = { rows: p.rowsDone, rate: Math.round(p.rowsDone / seconds).toString(), known: p.partitionsTotal !== undefined };
    const total = p.partitionsTotal ?? Math.max(p.partitionsDone, 1);
    if (!this.#shown) {
      this.#shown = true;
      this.#bar.start(total, p.partitionsDone, payload);
      return;
    }
    this.#bar.setTotal(total);
    this.#bar.update(p.partitionsDone, payload);
  }

  /** Stop drawing (leaves the last state on screen). */
  stop(): void {
    if (this.#shown) this.#bar.stop();
  }
}
