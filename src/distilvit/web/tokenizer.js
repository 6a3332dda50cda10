// Decoding token ids to text with a Hugging Face `tokenizers` tokenizer.json, as
// `Tokenizer.decode(ids, skip_special_tokens=True)` of the Rust library does it:
// ids -> tokens (model vocabulary, then added tokens; unknown ids dropped; special added
// tokens dropped when asked) -> the decoder pipeline over all tokens at once -> one string.
// Without a decoder the tokens are joined with spaces, as the library does.
//
// Decoders handled: ByteLevel (GPT-2, SmolLM, Qwen, our trained tokenizers), Metaspace,
// Replace, ByteFallback, Fuse, Strip, Sequence (Llama/SentencePiece-style), WordPiece and
// BPEDecoder. Another decoder type fails at load with its name.

const BYTE_TO_CHAR = byteLevelAlphabet();
const CHAR_TO_BYTE = new Map([...BYTE_TO_CHAR.entries()].map(([b, c]) => [c, b]));
const utf8 = new TextDecoder('utf-8'); // replacement characters for invalid bytes, like
// Rust's String::from_utf8_lossy (both replace each maximal invalid subpart)

// GPT-2's reversible bytes -> printable characters map.
function byteLevelAlphabet() {
  const map = new Map();
  const printable = (b) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  for (let b = 0; b < 256; b++) map.set(b, String.fromCodePoint(printable(b) ? b : next++));
  return map;
}

function byteLevel() {
  return (tokens) => {
    const bytes = [];
    for (const token of tokens) {
      const chars = [...token];
      if (chars.every((c) => CHAR_TO_BYTE.has(c))) {
        for (const c of chars) bytes.push(CHAR_TO_BYTE.get(c));
      } else {
        bytes.push(...new TextEncoder().encode(token)); // the library keeps such a token as is
      }
    }
    return [utf8.decode(new Uint8Array(bytes))];
  };
}

function metaspace(config) {
  const replacement = config.replacement ?? '\u2581';
  const scheme = config.prepend_scheme ?? (config.add_prefix_space === false ? 'never' : 'always');
  // As the library does: in the first token every replacement character is dropped.
  return (tokens) => tokens.map((token, i) =>
    token.split(replacement).join(i === 0 && scheme !== 'never' ? '' : ' '));
}

function replace(config) {
  const { String: literal, Regex: regex } = config.pattern;
  const pattern = literal !== undefined ? literal : new RegExp(regex, 'gu');
  return (tokens) => tokens.map((t) => (literal !== undefined
    ? t.split(pattern).join(config.content) : t.replace(pattern, config.content)));
}

function byteFallback() {
  return (tokens) => {
    const out = [];
    let pending = [];
    const flush = () => {
      if (!pending.length) return;
      try {
        out.push(new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(pending)));
      } catch {
        for (let i = 0; i < pending.length; i++) out.push('\uFFFD');
      }
      pending = [];
    };
    for (const token of tokens) {
      const byte = /^<0x[0-9A-Fa-f]{2}>$/.test(token) ? parseInt(token.slice(3, 5), 16) : null;
      if (byte !== null) {
        pending.push(byte);
      } else {
        flush();
        out.push(token);
      }
    }
    flush();
    return out;
  };
}

function strip(config) {
  const { content, start = 0, stop = 0 } = config;
  return (tokens) => tokens.map((token) => {
    const chars = [...token];
    let left = 0;
    while (left < start && left < chars.length && chars[left] === content) left++;
    let right = chars.length;
    let removed = 0;
    while (removed < stop && right > left && chars[right - 1] === content) { right--; removed++; }
    return chars.slice(left, right).join('');
  });
}

function wordPiece(config) {
  const prefix = config.prefix ?? '##';
  const cleanup = config.cleanup ?? true;
  return (tokens) => tokens.map((token, i) => {
    let text = token;
    if (i !== 0) text = text.startsWith(prefix) ? text.slice(prefix.length) : ' ' + text;
    return cleanup ? cleanUp(text) : text;
  });
}

// The library's `cleanup` of WordPiece output (spaces before punctuation and contractions).
function cleanUp(text) {
  return text.replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!')
    .replaceAll(' ,', ',').replaceAll(" ' ", "'").replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m").replaceAll(' do not', " don't").replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

function bpeDecoder(config) {
  const suffix = config.suffix ?? '</w>';
  return (tokens) => tokens.map((token, i) =>
    token.split(suffix).join(i === tokens.length - 1 ? '' : ' '));
}

const DECODERS = {
  ByteLevel: byteLevel,
  Metaspace: metaspace,
  Replace: replace,
  ByteFallback: byteFallback,
  Fuse: () => (tokens) => [tokens.join('')],
  Strip: strip,
  WordPiece: wordPiece,
  BPEDecoder: bpeDecoder,
  Sequence: (config) => {
    const steps = config.decoders.map(buildDecoder);
    return (tokens) => steps.reduce((acc, step) => step(acc), tokens);
  },
};

function buildDecoder(config) {
  const make = DECODERS[config.type];
  if (!make) {
    throw new Error(`tokenizer.json: decoder '${config.type}' is not supported (supported: ` +
      `${Object.keys(DECODERS).join(', ')})`);
  }
  return make(config);
}

export class Tokenizer {
  // `json`: the parsed tokenizer.json.
  constructor(json) {
    this.idToToken = new Map(vocabularyEntries(json.model));
    this.special = new Set();
    for (const added of json.added_tokens ?? []) {
      this.idToToken.set(added.id, added.content);
      if (added.special) this.special.add(added.id);
    }
    this.decoder = json.decoder ? buildDecoder(json.decoder) : null;
  }

  decode(ids, { skipSpecialTokens = true } = {}) {
    const tokens = [];
    for (const id of ids) {
      const token = this.idToToken.get(Number(id));
      if (token === undefined || (skipSpecialTokens && this.special.has(Number(id)))) continue;
      tokens.push(token);
    }
    return this.decoder ? this.decoder(tokens).join('') : tokens.join(' ');
  }
}

// [id, token] pairs of the model's vocabulary (BPE/WordPiece/WordLevel map, Unigram list).
function vocabularyEntries(model) {
  if (Array.isArray(model.vocab)) return model.vocab.map(([piece], id) => [id, piece]);
  return Object.entries(model.vocab).map(([token, id]) => [id, token]);
}
