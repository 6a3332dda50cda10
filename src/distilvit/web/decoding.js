// Greedy and beam search for one image, as src/distilvit/ort/decoding.py does them (which
// follows Hugging Face `generate`): the same logits rules (repetition penalty, no-repeat
// n-grams, bad words, min new tokens), ties resolved towards the lower token id, beam search
// with 2K candidates per step, finished hypotheses scored by sum(log p) / length and
// transformers' early-stop heuristic. Scores are float32 as in numpy (Math.fround).
//
// `step(tokens, parents)` runs the decoder on one new token per row and returns the next
// logits as an array of Float32Array rows; `parents` (beam search) says which cache row each
// new row continues.

const f32 = Math.fround;
const NEG = f32(-1.0e9); // HF's "impossible" score offset for beams

export function makeRules(generation, meta, overrides = {}) {
  const pick = (camel, snake, fallback) => overrides[camel] ?? generation[snake] ?? fallback;
  const rules = {
    maxNewTokens: pick('maxNewTokens', 'max_new_tokens', 30),
    minNewTokens: pick('minNewTokens', 'min_new_tokens', 0),
    numBeams: pick('numBeams', 'num_beams', 1),
    repetitionPenalty: pick('repetitionPenalty', 'repetition_penalty', 1.0),
    noRepeatNgramSize: pick('noRepeatNgramSize', 'no_repeat_ngram_size', 0),
    badWordsIds: overrides.badWordsIds ?? generation.bad_words_ids ?? [],
    eosId: meta.eos_id,
    padId: meta.pad_id,
  };
  if (generation.bad_words?.length && !overrides.badWordsIds && !generation.bad_words_ids) {
    // Words need the tokenizer's encoder, which this module does not carry: an export that
    // stores `bad_words_ids` (or the caller's badWordsIds) applies them.
    console.warn('distilvit: the export lists bad_words but no bad_words_ids; they are not ' +
      'applied in the browser (pass badWordsIds)');
  }
  if (rules.maxNewTokens < 1 || rules.numBeams < 1) {
    throw new Error('maxNewTokens and numBeams must be at least 1');
  }
  return rules;
}

// Apply the logits rules to one row of scores (a copy is returned) given its tokens so far.
export function processScores(scores, generated, rules) {
  const out = Float32Array.from(scores);
  if (rules.repetitionPenalty !== 1.0 && generated.length) {
    const p = f32(rules.repetitionPenalty);
    for (const t of new Set(generated)) {
      const s = scores[t];
      out[t] = s < 0 ? f32(s * p) : f32(s / p);
    }
  }
  if (rules.noRepeatNgramSize) banRepeatedNgrams(out, generated, rules.noRepeatNgramSize);
  if (rules.badWordsIds.length) banBadWords(out, generated, rules.badWordsIds, rules.eosId);
  if (generated.length < rules.minNewTokens) out[rules.eosId] = -Infinity;
  return out;
}

function banRepeatedNgrams(scores, generated, n) {
  const length = generated.length;
  if (length + 1 < n) return;
  const prefix = generated.slice(length + 1 - n).join(',');
  for (let i = 0; i < length - n + 1; i++) {
    if (generated.slice(i, i + n - 1).join(',') === prefix) scores[generated[i + n - 1]] = -Infinity;
  }
}

function banBadWords(scores, generated, badWords, eosId) {
  for (const words of badWords) {
    if (words.length === 1 && words[0] === eosId) continue; // HF never bans EOS this way
    const head = words.slice(0, -1);
    const tail = generated.slice(generated.length - head.length);
    if (!head.length || (generated.length >= head.length && head.every((t, i) => tail[i] === t))) {
      scores[words[words.length - 1]] = -Infinity;
    }
  }
}

// Index of the largest value; the first one on ties (numpy's argmax).
export function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

// New token ids (EOS included when reached) from the prompt's last logits.
export async function greedy(step, logits, rules) {
  const tokens = [];
  let row = logits[0];
  for (let t = 0; t < rules.maxNewTokens; t++) {
    const chosen = argmax(processScores(row, tokens, rules));
    tokens.push(chosen);
    if (chosen === rules.eosId || t + 1 === rules.maxNewTokens) break;
    [row] = await step([chosen], [0]);
  }
  return tokens;
}

export function logSoftmax(row) {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const log = f32(Math.log(sum));
  return row.map((v) => f32(f32(v - max) - log));
}

// Indices of the k largest values, best first; ties: lower index first.
export function top(values, k) {
  const best = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === k && !(v > values[best[k - 1]])) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && v > values[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

// The best finished hypothesis (EOS included when reached) from the prompt's last logits.
export async function beamSearch(step, logits, rules) {
  const k = rules.numBeams;
  const length = rules.maxNewTokens;
  let rows = Array.from({ length: k }, () => logits[0]);
  const beams = {
    running: Array.from({ length: k }, () => []),
    runningScores: Array.from({ length: k }, (_, i) => (i === 0 ? 0 : NEG)),
    done: Array.from({ length: k }, () => []),
    doneScores: Array.from({ length: k }, () => NEG),
    doneFlag: Array.from({ length: k }, () => false),
    open: true,
  };
  let cur = 0;
  for (; cur < length; cur++) {
    const vocab = rows[0].length;
    const total = new Float32Array(k * vocab);
    rows.forEach((row, j) => {
      const logp = processScores(logSoftmax(row), beams.running[j], rules);
      for (let v = 0; v < vocab; v++) total[j * vocab + v] = f32(logp[v] + beams.runningScores[j]);
    });
    const index = top(total, 2 * k); // enough that K survive even if the best K all end
    const candidates = index.map((i) => [...beams.running[Math.floor(i / vocab)], i % vocab]);
    const ends = index.map((i) => i % vocab === rules.eosId || cur + 1 >= length);
    const parents = advance(beams, candidates, index.map((i) => total[i]),
      index.map((i) => Math.floor(i / vocab)), ends, cur, k);
    beams.open = beams.open && canImprove(beams, cur + 1);
    if (!beams.open || ends.every(Boolean)) break;
    // After the prompt there is one decoder row, which every beam continues.
    rows = await step(beams.running.map((tokens) => tokens[cur]), cur === 0 ? parents.map(() => 0) : parents);
  }
  return beams.done[0].slice(0, cur + 1);
}

// Update running and finished hypotheses; return the running beams' parent rows.
function advance(beams, candidates, topScores, parents, ends, cur, k) {
  const live = topScores.map((s, i) => (ends[i] ? f32(s + NEG) : s));
  const chosen = top(live, k);
  beams.running = chosen.map((i) => candidates[i]);
  beams.runningScores = chosen.map((i) => live[i]);
  // Only the best K candidates may finish (the rest are spares for the running set).
  const justFinished = ends.map((e, i) => e && i < k);
  const finished = topScores.map((s, i) => {
    let score = f32(s / f32(cur + 1)); // length penalty 1.0
    if (!beams.open) score = f32(score + NEG);
    if (!justFinished[i]) score = f32(score + NEG);
    return score;
  });
  const merged = [...beams.doneScores, ...finished];
  const best = top(merged, k);
  const pool = [...beams.done, ...candidates];
  const flags = [...beams.doneFlag, ...justFinished];
  beams.done = best.map((i) => pool[i]);
  beams.doneScores = best.map((i) => merged[i]);
  beams.doneFlag = best.map((i) => flags[i]);
  return chosen.map((i) => parents[i]);
}

function canImprove(beams, curLen) {
  const bestRunning = f32(beams.runningScores[0] / f32(curLen));
  const worstDone = Math.min(...beams.doneScores);
  return beams.doneFlag.some((flag) => bestRunning > (flag ? worstDone : NEG));
}

// Token ids up to (not including) the first EOS.
export function untilEos(tokens, eosId) {
  const end = tokens.indexOf(eosId);
  return end < 0 ? tokens : tokens.slice(0, end);
}
