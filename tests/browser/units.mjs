// The DOM-free parts of the web module, run in node against cases Python wrote:
//   resize:     Pillow's Image.resize, every filter        -> mismatching bytes per case
//   composite:  RGBA on white as distilvit.images.to_rgb    -> mismatching bytes per case
//   preprocess: ort/preprocess.py's ImagePreprocessor       -> mismatching floats per case
//   decode:     tokenizers' Tokenizer.decode                -> the decoded strings
//   generate:   ort/decoding.py's greedy / beam search over a table-driven fake decoder
import { readFileSync } from 'node:fs';
import { beamSearch, greedy, makeRules } from '../../src/distilvit/web/decoding.js';
import { ImagePreprocessor, resizeRgb, rgbaToRgb } from '../../src/distilvit/web/preprocess.js';
import { Tokenizer } from '../../src/distilvit/web/tokenizer.js';
import { runInNode } from './harness.mjs';

const bytes = (path) => new Uint8Array(readFileSync(path));
const floats = (path) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

function mismatches(got, expected) {
  if (got.length !== expected.length) return { count: -1, length: got.length };
  let count = 0;
  let maxDiff = 0;
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], expected[i])) {
      count++;
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected[i]));
    }
  }
  return { count, maxDiff };
}

function resize(c) {
  return mismatches(resizeRgb(bytes(c.input), c.w, c.h, c.outW, c.outH, c.resample), bytes(c.expected));
}

function composite(c) {
  return mismatches(rgbaToRgb(bytes(c.input), c.w, c.h), bytes(c.expected));
}

function preprocess(c) {
  const processor = new ImagePreprocessor(c.config);
  const out = processor.apply({ data: bytes(c.input), width: c.w, height: c.h });
  return { ...mismatches(out.data, floats(c.expected)), dims: out.dims };
}

function decode(c) {
  const tokenizer = new Tokenizer(JSON.parse(readFileSync(c.tokenizer, 'utf8')));
  return c.sequences.map((ids) => tokenizer.decode(ids, { skipSpecialTokens: c.skip }));
}

// A fake decoder: next logits = table[last token] + bias[sum of the row's tokens % rows],
// in float32, so the result depends on each beam's whole history (kept like a KV cache).
async function generate(c) {
  const table = floats(c.table);
  const bias = floats(c.bias);
  const vocab = c.vocab;
  const logitsFor = (history) => {
    const last = history[history.length - 1];
    const b = history.reduce((a, t) => a + t, 0) % c.biasRows;
    const row = new Float32Array(vocab);
    for (let v = 0; v < vocab; v++) row[v] = Math.fround(table[last * vocab + v] + bias[b * vocab + v]);
    return row;
  };
  const meta = { eos_id: c.eos, pad_id: c.eos };
  const rules = makeRules({}, meta, c.rules);
  let histories = [[c.start]];
  const step = async (tokens, parents) => {
    histories = tokens.map((t, i) => [...histories[parents[i]], t]);
    return histories.map(logitsFor);
  };
  const search = rules.numBeams > 1 ? beamSearch : greedy;
  return search(step, [logitsFor(histories[0])], rules);
}

runInNode(async ({ args }) => ({
  resize: (args.resize ?? []).map(resize),
  composite: (args.composite ?? []).map(composite),
  preprocess: (args.preprocess ?? []).map(preprocess),
  decode: (args.decode ?? []).map(decode),
  generate: await Promise.all((args.generate ?? []).map(generate)),
}));
