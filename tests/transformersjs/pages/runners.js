// Caption with stock transformers.js through its public API only, as any page (or Firefox's
// alt-text feature) would; and, for the latency bench, with distilvit's own JS module.
//
//   const { id, loadMs } = await load('ved', 'my-captioner', 'q8');
//   const { text, ids, ms } = await caption(id, imageUrl);
//   await dispose(id);
//
// `ids` are the generated token ids (prompt / decoder start dropped, EOS kept when
// generated), `ms` the time from image URL to caption text, `pixels` the pixel_values fed
// (withPixels). `generation` ({maxNewTokens, minNewTokens, numBeams}) overrides the folder's
// generation_config.json.
import {
  AutoModelForImageTextToText,
  AutoProcessor,
  RawImage,
  env,
  pipeline,
} from '/tjs/transformers.js';

const now = () => performance.now();

// No network: models from `modelPath` on this server, onnxruntime's .wasm from `wasmDir`
// (the onnxruntime-web that transformers.js itself depends on; its default is a CDN).
export function configure({ modelPath = '/models/', wasmDir = '/ort-tjs/', threads = 0 } = {}) {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = modelPath;
  const wasm = env.backends.onnx.wasm;
  wasm.wasmPaths = {
    mjs: `${wasmDir}ort-wasm-simd-threaded.asyncify.mjs`,
    wasm: `${wasmDir}ort-wasm-simd-threaded.asyncify.wasm`,
  };
  if (threads) wasm.numThreads = threads;
  return { version: env.version, threads: wasm.numThreads ?? null };
}

function generateKwargs({ maxNewTokens, minNewTokens, numBeams } = {}) {
  const kwargs = {};
  if (maxNewTokens) kwargs.max_new_tokens = maxNewTokens;
  if (minNewTokens) kwargs.min_new_tokens = minNewTokens;
  if (numBeams) kwargs.num_beams = numBeams;
  return kwargs;
}

// The vision-encoder-decoder layout: the one-line pipeline, exactly as Firefox calls it.
class VedRunner {
  static async load(model, dtype) {
    return new VedRunner(await pipeline('image-to-text', model, { dtype, device: 'wasm' }));
  }

  constructor(captioner) {
    this.captioner = captioner;
  }

  async caption(url, { generation, withIds = true, withPixels = false } = {}) {
    const kwargs = generateKwargs(generation);
    const started = now();
    const [{ generated_text: text }] = await this.captioner(url, kwargs);
    const ms = now() - started;
    if (!withIds) return { text, ms };
    // The same components, once more, for the token ids the pipeline decoded.
    const { pixel_values } = await this.captioner.processor(await RawImage.fromURL(url));
    const output = await this.captioner.model.generate({ inputs: pixel_values, ...kwargs });
    const ids = output.tolist()[0].slice(1).map(Number); // [decoder_start, ...generated]
    return { text, ms, ids, pixels: withPixels ? Array.from(pixel_values.data) : undefined };
  }

  dispose() {
    return this.captioner.dispose();
  }
}

// The LLaVA layout: AutoProcessor + AutoModelForImageTextToText, prompt '<image>' + separator.
class LlavaRunner {
  static async load(model, dtype) {
    const processor = await AutoProcessor.from_pretrained(model);
    const llava = await AutoModelForImageTextToText.from_pretrained(model, { dtype, device: 'wasm' });
    return new LlavaRunner(processor, llava);
  }

  constructor(processor, llava) {
    this.processor = processor;
    this.llava = llava;
    this.prompt = '<image>' + processor.tokenizer.decode([llava.config.bos_token_id]);
  }

  async caption(url, { generation, withPixels = false } = {}) {
    const started = now();
    const inputs = await this.processor(await RawImage.fromURL(url), this.prompt,
      { add_special_tokens: false });
    const output = await this.llava.generate({ ...inputs, ...generateKwargs(generation) });
    const ids = output.tolist()[0].slice(inputs.input_ids.dims[1]).map(Number);
    const text = this.processor.tokenizer.decode(ids, { skip_special_tokens: true }).trim();
    const ms = now() - started;
    return { text, ms, ids, pixels: withPixels ? Array.from(inputs.pixel_values.data) : undefined };
  }

  dispose() {
    return this.llava.dispose();
  }
}

// distilvit's own module (src/distilvit/web, mounted at /web/) on the LLaVA layout.
class DistilvitRunner {
  static async load(model, dtype, { threads, cache } = {}) {
    const { Captioner } = await import('/web/captioner.js');
    return new DistilvitRunner(await Captioner.load(new URL(model, location.href).href,
      { dtype: dtype === 'q8' ? 'int8' : dtype, device: 'wasm', threads, cache }));
  }

  constructor(captioner) {
    this.captioner = captioner;
    this.info = captioner.info;
  }

  async caption(url, { generation = {} } = {}) {
    const started = now();
    const blob = await (await fetch(url)).blob();
    const { caption: text, tokens: ids } = await this.captioner.caption(blob, generation);
    return { text, ms: now() - started, ids };
  }

  dispose() {
    return this.captioner.dispose();
  }
}

const RUNNERS = { ved: VedRunner, llava: LlavaRunner, distilvit: DistilvitRunner };
const opened = new Map();
let lastId = 0;

// Make a captioner; with `reload`, dispose it and make it again: the first load pays the
// WASM runtime's start (and our module's cache fill), the second shows the steady cost.
// `cache: false`: our module skips the Cache API (its default is on; the stock runners ignore it).
export async function load(kind, model, dtype, { reload = false, threads, cache } = {}) {
  const make = () => RUNNERS[kind].load(model, dtype, { threads, cache });
  let started = now();
  let runner = await make();
  const loadMs = now() - started;
  let reloadMs;
  if (reload) {
    await runner.dispose();
    started = now();
    runner = await make();
    reloadMs = now() - started;
  }
  const id = ++lastId;
  opened.set(id, runner);
  return { id, loadMs, reloadMs, info: runner.info };
}

export function caption(id, url, options = {}) {
  return opened.get(id).caption(url, options);
}

export async function dispose(id) {
  await opened.get(id).dispose();
  opened.delete(id);
}
