// Alt text in the browser, nothing uploaded: a folder written by `distilvit export`, run with
// onnxruntime-web. The JavaScript twin of src/distilvit/ort/captioner.py:
//
//   pixels -> vision_encoder -> image prefix [1, N, D]
//   [prefix][embed_tokens(separator)] -> decoder_model_merged (empty past) -> logits + cache
//   each new token -> embed_tokens -> decoder_model_merged (past) -> logits + cache
//
//   import { Captioner } from './captioner.js';
//   const c = await Captioner.load('org/name', { dtype: 'int8', onProgress });
//   const { caption, timings } = await c.caption(fileOrBlobOrCanvas);
import { beamSearch, greedy, makeRules, untilEos } from './decoding.js';
import { fetchBytes, fetchJson, progressAggregator, resolveSource } from './files.js';
import { readImage } from './images.js';
import { ImagePreprocessor } from './preprocess.js';
import { configureWasm, createSession, float32, int64, pickDevice } from './runtime.js';
import { missingFeatures } from './support.js';
import { Tokenizer } from './tokenizer.js';

export { clearCache, DownloadError, resolveSource } from './files.js';
export { ImageError } from './images.js';
export { missingFeatures } from './support.js';

export const GRAPHS = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'];
export const DTYPE_SUFFIX = { fp32: '', int8: '_quantized', q4: '_q4' };
const EXPORT_FORMAT = 1;
const now = () => performance.now();

export class ModelError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ModelError';
  }
}

export class Captioner {
  // source: a Hub id ('org/name'), a base URL, or a path served beside the page.
  // options: dtype 'int8' (default) | 'q4' | 'fp32'; device 'auto' | 'wasm' | 'webgpu'; threads;
  //   onProgress({loaded, total, file, fromCache}); hubUrl; revision; cache (default true);
  //   wasmPaths (where onnxruntime-web's .wasm files are, if not beside its script).
  static async load(source, options = {}) {
    const missing = missingFeatures();
    if (missing.length) {
      throw new ModelError(`this browser cannot run the captioner (missing: ${missing.join(', ')}); ` +
        'use a recent Chrome, Edge, Firefox or Safari');
    }
    const dtype = options.dtype ?? 'int8';
    if (!(dtype in DTYPE_SUFFIX)) throw new ModelError(`unknown dtype '${dtype}' (int8, q4 or fp32)`);
    const baseUrl = resolveSource(source, options);
    const fetchOptions = { useCache: options.cache ?? true };
    const started = now();
    const { json: config } = await fetchJson(baseUrl + 'config.json', fetchOptions);
    const meta = exportBlock(config, baseUrl, dtype);
    const graphUrls = GRAPHS.map((g) => `${baseUrl}onnx/${g}${DTYPE_SUFFIX[dtype]}.onnx`);
    const jsonUrls = ['preprocessor_config.json', 'tokenizer.json'].map((f) => baseUrl + f);
    const progress = progressAggregator(options.onProgress ?? (() => {}), [...graphUrls, ...jsonUrls]);
    const withProgress = { ...fetchOptions, onProgress: progress };
    const [preprocessor, tokenizer, ...graphs] = await Promise.all([
      ...jsonUrls.map((url) => fetchJson(url, withProgress)),
      ...graphUrls.map((url) => fetchBytes(url, withProgress)),
    ]);
    const downloadMs = now() - started;
    const threads = configureWasm(options);
    let device = await pickDevice(options.device, dtype);
    let sessions;
    try {
      sessions = await createSessions(graphs, device);
    } catch (error) {
      if (device !== 'webgpu' || options.device === 'webgpu') throw error;
      console.warn(`distilvit: WebGPU failed (${error.message}); using WASM`);
      device = 'wasm';
      sessions = await createSessions(graphs, device);
    }
    const captioner = new Captioner({
      meta, sessions, dtype, baseUrl,
      preprocessor: new ImagePreprocessor(preprocessor.json, baseUrl + 'preprocessor_config.json'),
      tokenizer: new Tokenizer(tokenizer.json),
    });
    captioner.info = {
      source, baseUrl, dtype, device, threads, crossOriginIsolated: Boolean(globalThis.crossOriginIsolated),
      fromCache: graphs.every((g) => g.fromCache), downloadMs, loadMs: now() - started,
    };
    captioner.separator = await captioner.embed([meta.separator_id]);
    return captioner;
  }

  constructor({ meta, sessions, preprocessor, tokenizer, dtype, baseUrl }) {
    Object.assign(this, { meta, sessions, preprocessor, tokenizer, dtype, baseUrl });
    this.queue = Promise.resolve(); // a session runs one call at a time: captions wait their turn
    const decoder = sessions.decoder_model_merged;
    this.pastNames = decoder.inputNames.filter((n) => n.startsWith('past_key_values.'));
  }

  // Caption one image (File/Blob, <img>, canvas, ImageBitmap, ImageData or URL).
  // options: maxNewTokens, minNewTokens, numBeams, repetitionPenalty, noRepeatNgramSize,
  //   badWordsIds (the export's defaults otherwise).
  caption(image, options = {}) {
    const run = this.queue.then(() => this.captionNow(image, options));
    this.queue = run.catch(() => {});
    return run;
  }

  async captionNow(image, options) {
    const rules = makeRules(this.meta.generation ?? {}, this.meta, options);
    const t0 = now();
    const rgba = await readImage(image);
    const t1 = now();
    const pixels = this.preprocessor.apply(rgba);
    const t2 = now();
    const prefix = await this.imagePrefix(pixels);
    const t3 = now();
    const state = { cache: null, stepMs: [] };
    const logits = await this.prefill(prefix, state);
    const t4 = now();
    const step = async (tokens, parents) => {
      const start = now();
      const rows = await this.step(tokens, parents, state);
      state.stepMs.push(now() - start);
      return rows;
    };
    const search = rules.numBeams > 1 ? beamSearch : greedy;
    const tokens = await search(step, [logits], rules);
    const t5 = now();
    const caption = this.tokenizer.decode(untilEos(tokens, this.meta.eos_id)).trim();
    const perToken = state.stepMs.length ? state.stepMs.reduce((a, b) => a + b) / state.stepMs.length : 0;
    return {
      caption, tokens,
      timings: { readImageMs: t1 - t0, preprocessMs: t2 - t1, encodeMs: t3 - t1, prefillMs: t4 - t3,
        perTokenMs: perToken, stepsMs: state.stepMs, generateMs: t5 - t4, totalMs: now() - t0,
        newTokens: tokens.length },
    };
  }

  async imagePrefix({ data, dims }) {
    const out = await this.sessions.vision_encoder.run({ pixel_values: float32(data, dims) });
    return out.image_features;
  }

  // Embeddings [rows, 1, D] of one token per row, as a Float32Array.
  async embed(ids) {
    const out = await this.sessions.embed_tokens.run({ input_ids: int64(ids, [ids.length, 1]) });
    return out.inputs_embeds.data;
  }

  // The prompt [prefix][separator] through the decoder with an empty past: first logits.
  async prefill(prefix, state) {
    const [, n, d] = prefix.dims;
    const embeds = new Float32Array((n + 1) * d);
    embeds.set(prefix.data);
    embeds.set(this.separator, n * d);
    const empty = this.pastNames.map(() => float32(new Float32Array(0),
      [1, this.meta.num_key_value_heads, 0, this.meta.head_dim]));
    const [logits] = await this.decode(embeds, 1, n + 1, empty, state);
    return logits;
  }

  // One token per row; `parents[r]` is the cache row that row r continues.
  async step(tokens, parents, state) {
    const embeds = await this.embed(tokens);
    const cache = selectRows(state.cache, parents);
    return this.decode(embeds, tokens.length, 1, cache, state);
  }

  async decode(embeds, rows, length, cache, state) {
    const past = cache[0].dims[2];
    const d = embeds.length / (rows * length);
    const positions = [];
    for (let r = 0; r < rows; r++) for (let t = 0; t < length; t++) positions.push(past + t);
    const feeds = {
      inputs_embeds: float32(embeds, [rows, length, d]),
      attention_mask: int64(new Array(rows * (past + length)).fill(1), [rows, past + length]),
      position_ids: int64(positions, [rows, length]),
    };
    this.pastNames.forEach((name, i) => { feeds[name] = cache[i]; });
    const out = await this.sessions.decoder_model_merged.run(feeds);
    state.cache = this.pastNames.map((name) => out[name.replace('past_key_values.', 'present.')]);
    const logits = out.logits;
    const vocab = logits.dims[2];
    const last = logits.dims[1] - 1;
    return Array.from({ length: rows }, (_, r) =>
      logits.data.slice((r * logits.dims[1] + last) * vocab, (r * logits.dims[1] + last + 1) * vocab));
  }

  async dispose() {
    await Promise.all(Object.values(this.sessions).map((s) => s.release()));
  }
}

async function createSessions(graphs, device) {
  const sessions = {};
  for (const [i, graph] of GRAPHS.entries()) sessions[graph] = await createSession(graphs[i].bytes, device);
  return sessions;
}

// Rows `parents` of every cache tensor (identity when the rows are 0..n-1 in order).
function selectRows(cache, parents) {
  const rows = cache[0].dims[0];
  if (parents.length === rows && parents.every((p, i) => p === i)) return cache;
  return cache.map((tensor) => {
    const [, ...rest] = tensor.dims;
    const size = rest.reduce((a, b) => a * b, 1);
    const data = new Float32Array(parents.length * size);
    parents.forEach((p, i) => data.set(tensor.data.subarray(p * size, (p + 1) * size), i * size));
    return float32(data, [parents.length, ...rest]);
  });
}

// The `distilvit_export` block of config.json, checked for what this module can run.
function exportBlock(config, baseUrl, dtype) {
  const meta = config?.distilvit_export;
  if (!meta) {
    throw new ModelError(`${baseUrl}config.json has no distilvit_export block: not a folder ` +
      'written by `distilvit export`');
  }
  if ((meta.format ?? 0) > EXPORT_FORMAT) {
    throw new ModelError(`${baseUrl}: export format ${meta.format} is newer than this module ` +
      `understands (${EXPORT_FORMAT}); update distilvit's web files`);
  }
  if ((meta.layout ?? 'llava') !== 'llava') {
    throw new ModelError(`${baseUrl}: the '${meta.layout}' layout is for transformers.js; ` +
      'this module runs the llava layout (distilvit export --layout llava)');
  }
  if (meta.variants && !meta.variants.includes(dtype)) {
    throw new ModelError(`${baseUrl}: no ${dtype} graphs (the export has ` +
      `${meta.variants.join(', ')}); re-export with --quantize all`);
  }
  return meta;
}
