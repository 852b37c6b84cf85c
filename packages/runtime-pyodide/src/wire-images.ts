/** A UDF's images as they leave the worker: checked to be PNG files with a string or null title, within the result limit. */
import { ErrorCode, InsituError } from '@insitu/core';
import type { WireImage } from './protocol.js';
import { pngProblem } from './png-check.js';
import { resultTooLarge } from '@insitu/core';
import { badAnswer } from './python-answers.js';

/**
 * A result's images as Python reported them, checked again here (PNG files, see {@link pngProblem}; a string or null title,
 * bytes and titles at most `maxResultBytes` together) before they leave the worker: Python's own checks run in the
 * UDF's interpreter, where the UDF can replace them. Not PNG is BAD_RESULT, too many bytes RESULT_TOO_LARGE.
 */
export function wireImages(images: unknown, maxResultBytes: number): WireImage[] {
  if (images === undefined || images === null) return [];
  if (!Array.isArray(images)) throw badAnswer('image list');
  let total = 0;
  for (const im of images as unknown[]) {
    const { png, title } = (im ?? {}) as { png?: unknown; title?: unknown };
    if (png instanceof Uint8Array) total += png.byteLength;
    if (typeof title === 'string') total += title.length;
  }
  if (total > maxResultBytes) throw resultTooLarge('PNG images (with their titles) of', total, maxResultBytes);
  return images.map((im: unknown) => {
    const { png, title } = (im ?? {}) as { png?: unknown; title?: unknown };
    if (!(png instanceof Uint8Array)) throw new InsituError(ErrorCode.BAD_RESULT, 'an image of the UDF is not PNG bytes');
    const problem = pngProblem(png);
    if (problem !== null) throw new InsituError(ErrorCode.BAD_RESULT, `an image of the UDF is not a PNG file: ${problem} (save figures with format='png')`);
    if (title !== null && title !== undefined && typeof title !== 'string') throw badAnswer('image title');
    return { title: typeof title === 'string' ? title : null, png };
  });
}

/** `{ images }` when there are any, else nothing (most results have none). */
export function withImages(images: WireImage[]): { images?: WireImage[] } {
  return images.length === 0 ? {} : { images };
}
