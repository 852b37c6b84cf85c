/** A UDF's images as they leave the worker: checked to be PNG bytes with a string or null title. */
import { ErrorCode, InsituError } from '@insitu/core';
import type { WireImage } from './protocol.js';
import { badAnswer } from './python-answers.js';

/** The first bytes of every PNG file. */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * A result's images as Python reported them, checked again here (PNG bytes, a string or null title)
 * before they leave the worker; anything else is BAD_RESULT.
 */
export function wireImages(images: unknown): WireImage[] {
  if (images === undefined || images === null) return [];
  if (!Array.isArray(images)) throw badAnswer('image list');
  return images.map((im: unknown) => {
    const { png, title } = (im ?? {}) as { png?: unknown; title?: unknown };
    if (!(png instanceof Uint8Array) || png.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => png[i] !== b)) {
      throw new InsituError(ErrorCode.BAD_RESULT, 'an image of the UDF is not PNG bytes (they must start with the PNG signature)');
    }
    if (title !== null && title !== undefined && typeof title !== 'string') throw badAnswer('image title');
    return { title: typeof title === 'string' ? title : null, png };
  });
}

/** `{ images }` when there are any, else nothing (most results have none). */
export function withImages(images: WireImage[]): { images?: WireImage[] } {
  return images.length === 0 ? {} : { images };
}

