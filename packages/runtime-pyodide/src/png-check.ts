/**
 * Whether bytes are a PNG file by its structure: the signature, an `IHDR` chunk first, then whole
 * chunks (length, four-letter type, data, CRC) up to an `IEND` chunk that ends the bytes. The pixels
 * are not decoded; what this refuses is a signature in front of something else (text, markup, another
 * file) or anything appended after the image.
 */

/** The first bytes of every PNG file. */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Why `png` is not a PNG file, or null when it is one. */
export function pngProblem(png: Uint8Array): string | null {
  if (png.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => png[i] !== b)) return 'they do not start with the PNG signature';
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = PNG_SIGNATURE.length;
  let first = true;
  while (at + 12 <= png.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(png[at + 4]!, png[at + 5]!, png[at + 6]!, png[at + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) return `a chunk at byte ${at} has no chunk type`;
    if (first && (type !== 'IHDR' || length !== 13)) return 'the first chunk is not IHDR';
    first = false;
    const end = at + 12 + length;
    if (length > 0x7fffffff || end > png.length) return `the ${type} chunk at byte ${at} runs past the end`;
    if (type === 'IEND') return end === png.length ? null : `${png.length - end} bytes follow the IEND chunk`;
    at = end;
  }
  return 'there is no IEND chunk at the end';
}
