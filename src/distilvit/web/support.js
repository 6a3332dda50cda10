// What this browser lacks for the captioner, checked without loading onnxruntime-web (so a
// page can explain the problem instead of failing on import).

// A minimal module using one SIMD instruction (i8x16.splat), to probe WASM SIMD support:
// onnxruntime-web ships SIMD builds only.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1,
  0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

// Names of the missing features ([] when nothing is missing).
export function missingFeatures() {
  const missing = [];
  if (typeof WebAssembly !== 'object') {
    missing.push('WebAssembly');
  } else if (!WebAssembly.validate(SIMD_PROBE)) {
    missing.push('WebAssembly SIMD');
  }
  if (typeof BigInt64Array === 'undefined') missing.push('BigInt64Array');
  if (typeof createImageBitmap === 'undefined') missing.push('createImageBitmap');
  if (typeof fetch === 'undefined' || typeof ReadableStream === 'undefined') missing.push('fetch streams');
  return missing;
}
