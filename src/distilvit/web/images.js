// Turning what a page has (a File or Blob, an <img>, a canvas, an ImageBitmap, ImageData, a
// URL) into straight-alpha RGBA bytes at the image's own size, with no resizing and no colour
// management, so that preprocess.js sees the pixels Pillow would decode.

export class ImageError extends Error {
  constructor(name, reason) {
    super(`${name}: ${reason}`);
    this.name = 'ImageError';
  }
}

// Same guard as distilvit.images.MAX_PIXELS (decompression bombs).
export const MAX_PIXELS = 64_000_000;

// Decode without colour-space conversion (Pillow ignores embedded profiles) and with EXIF
// orientation applied (distilvit.images does ImageOps.exif_transpose).
const BITMAP_OPTIONS = { premultiplyAlpha: 'none', colorSpaceConversion: 'none',
  imageOrientation: 'from-image' };

export function describe(input) {
  if (typeof input === 'string') return input;
  if (typeof File !== 'undefined' && input instanceof File) return input.name || '<file>';
  if (typeof Blob !== 'undefined' && input instanceof Blob) return `<${input.size} bytes>`;
  return `<${input?.constructor?.name ?? typeof input}>`;
}

// {data: Uint8ClampedArray RGBA, width, height} of any supported input.
export async function readImage(input) {
  const name = describe(input);
  if (input && typeof input === 'object' && 'data' in input && 'width' in input && !isDrawable(input)) {
    return checked(input, name); // ImageData or {data, width, height}
  }
  if (typeof input === 'string') input = await fetchBlob(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return fromBitmap(await decodeBlob(input, name), name);
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    await input.decode().catch(() => { throw new ImageError(name, 'not a readable image'); });
    return fromBitmap(await createImageBitmap(input, BITMAP_OPTIONS), name);
  }
  if (isDrawable(input)) return draw(input, input.width, input.height, name);
  throw new ImageError(name, 'unsupported input (give a File/Blob, an <img>, a canvas, an ' +
    'ImageBitmap, ImageData or a URL)');
}

function isDrawable(input) {
  return ['ImageBitmap', 'HTMLCanvasElement', 'OffscreenCanvas', 'VideoFrame', 'HTMLVideoElement']
    .some((type) => typeof globalThis[type] !== 'undefined' && input instanceof globalThis[type]);
}

async function fetchBlob(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ImageError(url, `could not download (${error.message})`);
  }
  if (!response.ok) throw new ImageError(url, `could not download (HTTP ${response.status})`);
  const blob = await response.blob();
  return new File([blob], url, { type: blob.type });
}

async function decodeBlob(blob, name) {
  if (blob.size === 0) throw new ImageError(name, 'empty file (0 bytes)');
  try {
    return await createImageBitmap(blob, BITMAP_OPTIONS);
  } catch {
    const kind = blob.type ? ` (${blob.type})` : '';
    throw new ImageError(name, `not a readable image${kind}; use a PNG, JPEG, GIF, WebP, BMP or AVIF file`);
  }
}

function fromBitmap(bitmap, name) {
  try {
    return draw(bitmap, bitmap.width, bitmap.height, name);
  } finally {
    bitmap.close();
  }
}

function draw(source, width, height, name) {
  checkSize(width, height, name);
  const canvas = typeof OffscreenCanvas !== 'undefined'
    ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement('canvas'), { width, height });
  const context = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
  context.drawImage(source, 0, 0);
  const { data } = context.getImageData(0, 0, width, height, { colorSpace: 'srgb' });
  return { data, width, height };
}

function checked(image, name) {
  checkSize(image.width, image.height, name);
  if (image.data.length !== image.width * image.height * 4) {
    throw new ImageError(name, `expected ${image.width}x${image.height} RGBA bytes, got ${image.data.length}`);
  }
  return image;
}

function checkSize(width, height, name) {
  if (!width || !height) throw new ImageError(name, 'empty image (0 pixels)');
  if (width * height > MAX_PIXELS) {
    throw new ImageError(name, `${width}x${height} pixels is over the ${MAX_PIXELS.toLocaleString('en')}` +
      '-pixel limit (possible decompression bomb); downscale it first');
  }
}
