import { ErrorCode, InsituError } from './errors.js';

/** The error an aborted signal stands for: its reason when that is an InsituError, else CANCELLED. */
export function abortError(signal: AbortSignal): InsituError {
  return signal.reason instanceof InsituError
    ? signal.reason
    : new InsituError(ErrorCode.CANCELLED, 'the call was cancelled', { cause: signal.reason });
}

/**
 * Run `fn` over `items` with at most `degree` calls in flight and return the results in item order,
 * whichever finishes first. Items are pulled from the iterator only when a slot is free, so a streamed
 * source is never read ahead by more than `degree` items. On the first failure no further items start;
 * calls in flight are awaited and the failure of the earliest item is thrown.
 */
export async function runOrdered<T, R>(
  items: AsyncIterable<T>,
  degree: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results: R[] = [];
  const failures = new Map<number, unknown>();
  const iterator = items[Symbol.asyncIterator]();
  let next = 0;
  let done = false;

  const worker = async (): Promise<void> => {
    while (!done && failures.size === 0) {
      if (signal?.aborted === true) {
        failures.set(next, abortError(signal));
        return;
      }
      const index = next++;
      let step: IteratorResult<T>;
      try {
        step = await iterator.next();
      } catch (e) {
        failures.set(index, e);
        return;
      }
      if (step.done === true) {
        done = true;
        return;
      }
      try {
        results[index] = await fn(step.value, index);
      } catch (e) {
        failures.set(index, e);
      }
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, degree) }, worker));
  if (failures.size > 0) {
    await iterator.return?.();
    throw failures.get(Math.min(...failures.keys()));
  }
  return results;
}
