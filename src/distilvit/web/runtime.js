// onnxruntime-web: which backend, how many threads, and creating sessions.
//
// The module imports the bare specifier 'onnxruntime-web': a bundler resolves it from npm,
// a page without a build step maps it with an import map, e.g.
//   <script type="importmap">{"imports": {"onnxruntime-web": "./ort/ort.min.mjs"}}</script>
// (ort.min.mjs carries both the WASM and the WebGPU backends; its .wasm files are fetched
// from beside it.)
import * as ort from 'onnxruntime-web';

export { ort };

// Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages
// (COOP: same-origin + COEP: require-corp). Anything else runs on one thread.
export function defaultThreads() {
  if (!globalThis.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 1));
}

let configuredThreads = null;

// onnxruntime-web reads its WASM settings once, when the first session is created: later
// captioners on the same page share the first one's thread count.
export function configureWasm({ threads, wasmPaths } = {}) {
  if (configuredThreads === null) {
    const wanted = threads ?? defaultThreads();
    configuredThreads = globalThis.crossOriginIsolated ? Math.max(1, wanted) : 1;
    if (wanted > 1 && !globalThis.crossOriginIsolated) {
      console.warn('distilvit: the page is not cross-origin isolated (COOP/COEP headers): ' +
        'running on one thread');
    }
    ort.env.wasm.numThreads = configuredThreads;
    if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
  }
  return configuredThreads;
}

// 'webgpu' when asked or when an adapter exists ('auto'), else 'wasm'. INT8 graphs stay on
// WASM under 'auto': their dynamic quantization (DynamicQuantizeLinear + MatMulInteger) is a
// CPU format, and onnxruntime-web 1.30's WebGPU backend gave wrong tokens with it (measured
// with Chromium's software WebGPU), while fp32 gave Python's tokens.
export async function pickDevice(device = 'auto', dtype = 'fp32') {
  if (device === 'wasm' || (device === 'auto' && dtype === 'int8')) return 'wasm';
  let adapter = null;
  try {
    adapter = globalThis.navigator?.gpu ? await navigator.gpu.requestAdapter() : null;
  } catch {
    adapter = null;
  }
  if (device === 'webgpu' && !adapter) throw new Error('WebGPU was asked for but no adapter is available');
  return adapter ? 'webgpu' : 'wasm';
}

export async function createSession(bytes, device) {
  const executionProviders = device === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
  return ort.InferenceSession.create(bytes, { executionProviders, graphOptimizationLevel: 'all' });
}

export function float32(data, dims) {
  return new ort.Tensor('float32', data, dims);
}

export function int64(values, dims) {
  return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);
}
