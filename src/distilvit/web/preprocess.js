// Image preprocessing as src/distilvit/ort/preprocess.py does it, bit for bit.
//
// RGBA pixels (straight alpha) -> composite on white (Pillow's paste with an alpha mask) ->
// resize with Pillow's resampling filter -> optional centre crop -> x * rescale_factor in
// float64, cast to float32 -> (x - mean) / std in float32 -> channels first.
//
// Why not canvas drawImage: a browser canvas resizes with its own filters (differences of up
// to ~100 grey levels on hard edges against Pillow), which changes greedy tokens. The resize
// below ports Pillow's two-pass convolution (src/libImaging/Resample.c): coefficients in
// float64, normalised, converted to 22-bit fixed point, a horizontal pass then a vertical pass,
// each rounding to 8 bits. Pure JavaScript with no DOM: node runs it in the tests.

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

// Pillow's Image.Resampling numbers.
export const NEAREST = 0;
export const LANCZOS = 1;
export const BILINEAR = 2;
export const BICUBIC = 3;
export const BOX = 4;
export const HAMMING = 5;

function sinc(x) {
  if (x === 0.0) return 1.0;
  x *= Math.PI;
  return Math.sin(x) / x;
}

const FILTERS = {
  [BOX]: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
  [BILINEAR]: { support: 1.0, fn: (x) => { x = Math.abs(x); return x < 1.0 ? 1.0 - x : 0.0; } },
  [HAMMING]: {
    support: 1.0,
    fn: (x) => {
      x = Math.abs(x);
      if (x === 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      x *= Math.PI;
      return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x));
    },
  },
  [BICUBIC]: {
    support: 2.0,
    fn: (x) => {
      const a = -0.5; // Pillow's choice (Keys' cubic convolution)
      x = Math.abs(x);
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    },
  },
  [LANCZOS]: { support: 3.0, fn: (x) => (x >= -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0) },
};

// Fixed-point coefficients of every output pixel along one axis (Pillow's precompute_coeffs
// followed by normalize_coeffs_8bpc).
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const weights = new Int32Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const raw = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      raw[x] = filter.fn((x + xmin - center + 0.5) * ss);
      ww += raw[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0.0 ? raw[x] / ww : raw[x];
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { weights, bounds, ksize };
}

function clip8(v) {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

// One pass along x (horizontal) or y: `src` is RGB bytes of width w, height h.
function pass(src, w, h, outSize, filter, horizontal) {
  const { weights, bounds, ksize } = coefficients(horizontal ? w : h, outSize, filter);
  const outW = horizontal ? outSize : w;
  const outH = horizontal ? h : outSize;
  const out = new Uint8Array(outW * outH * 3);
  const step = horizontal ? 3 : w * 3; // bytes between neighbours along the axis
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const i = horizontal ? x : y;
      const min = bounds[i * 2];
      const count = bounds[i * 2 + 1];
      const k = i * ksize;
      let base = horizontal ? (y * w + min) * 3 : (min * w + x) * 3;
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let j = 0; j < count; j++, base += step) {
        const c = weights[k + j];
        s0 += src[base] * c;
        s1 += src[base + 1] * c;
        s2 += src[base + 2] * c;
      }
      const o = (y * outW + x) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

// Pillow's NEAREST resize (an affine scale with coordinates accumulated in float64).
function nearest(src, w, h, outW, outH) {
  const column = (inSize, outSize) => {
    const table = new Int32Array(outSize);
    const a = inSize / outSize;
    let pos = a * 0.5;
    for (let i = 0; i < outSize; i++, pos += a) table[i] = pos < 0 ? -1 : Math.trunc(pos);
    return table;
  };
  const xs = column(w, outW);
  const ys = column(h, outH);
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const s = (ys[y] * w + xs[x]) * 3;
      out.set(src.subarray(s, s + 3), (y * outW + x) * 3);
    }
  }
  return out;
}

// Resize RGB bytes (w x h) to outW x outH exactly as Pillow's Image.resize(size, resample).
export function resizeRgb(rgb, w, h, outW, outH, resample = BICUBIC) {
  if (w === outW && h === outH) return rgb.slice();
  if (resample === NEAREST) return nearest(rgb, w, h, outW, outH);
  const filter = FILTERS[resample];
  if (!filter) throw new Error(`unsupported resample filter ${resample} (Pillow numbers 0-5)`);
  let out = rgb;
  let width = w;
  if (outW !== w) {
    out = pass(out, width, h, outW, filter, true);
    width = outW;
  }
  if (outH !== h) out = pass(out, width, h, outH, filter, false);
  return out;
}

// RGBA (straight alpha) to RGB composited on white, as distilvit.images.to_rgb does with
// Pillow's paste(image, mask=alpha): out = round((255 * (255 - a) + c * a) / 255).
export function rgbaToRgb(rgba, width, height) {
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const a = rgba[p * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[p * 4 + c];
      if (a === 255) {
        rgb[p * 3 + c] = v;
      } else {
        const t = 255 * (255 - a) + v * a + 128; // Pillow's DIV255, exact rounding
        rgb[p * 3 + c] = ((t >> 8) + t) >> 8;
      }
    }
  }
  return rgb;
}

export class ImagePreprocessor {
  // `config`: the export's preprocessor_config.json (a Hugging Face image processor config).
  constructor(config, source = 'preprocessor_config.json') {
    const flag = (name) => config[name] ?? true;
    this.resize = flag('do_resize') ? resizeRule(config.size, source) : null;
    this.crop = config.do_center_crop ? cropSize(config.crop_size, source) : null;
    this.resample = Number(config.resample ?? BILINEAR);
    this.scale = flag('do_rescale') ? Number(config.rescale_factor) : null;
    this.mean = flag('do_normalize') ? Float32Array.from(config.image_mean) : null;
    this.std = flag('do_normalize') ? Float32Array.from(config.image_std) : null;
    if (config.do_pad) throw new Error(`${source}: padding (do_pad) is not supported`);
  }

  // Output [3, H, W] of the model.
  outputSize(width, height) {
    let [w, h] = this.resize ? this.target(width, height) : [width, height];
    if (this.crop) [h, w] = this.crop;
    return { width: w, height: h };
  }

  // {data: RGBA bytes, width, height} -> {data: Float32Array CHW, dims: [1, 3, H, W]}.
  apply({ data, width, height }) {
    let rgb = rgbaToRgb(data, width, height);
    let w = width, h = height;
    if (this.resize) {
      const [tw, th] = this.target(width, height);
      rgb = resizeRgb(rgb, width, height, tw, th, this.resample);
      w = tw;
      h = th;
    }
    if (this.crop) ({ rgb, w, h } = centerCrop(rgb, w, h, this.crop));
    return { data: this.normalize(rgb, w, h), dims: [1, 3, h, w] };
  }

  normalize(rgb, w, h) {
    const plane = w * h;
    const out = new Float32Array(3 * plane);
    const f = Math.fround;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        let v = this.scale !== null ? f(rgb[p * 3 + c] * this.scale) : rgb[p * 3 + c];
        if (this.mean) v = f(f(v - this.mean[c]) / this.std[c]);
        out[c * plane + p] = v;
      }
    }
    return out;
  }

  // [width, height] to resize to (HF's rules, as ort/preprocess.py's _target).
  target(width, height) {
    const { kind, value } = this.resize;
    if (kind === 'exact') return [value[1], value[0]];
    const portrait = width <= height;
    const [short, long] = portrait ? [width, height] : [height, width];
    const newLong = Math.trunc((value * long) / short);
    return portrait ? [value, newLong] : [newLong, value];
  }
}

function resizeRule(size, source) {
  if (size && 'height' in size && 'width' in size) {
    return { kind: 'exact', value: [Number(size.height), Number(size.width)] };
  }
  if (size && Object.keys(size).length === 1 && 'shortest_edge' in size) {
    return { kind: 'shortest', value: Number(size.shortest_edge) };
  }
  throw new Error(`${source}: unsupported resize rule size=${JSON.stringify(size)} ` +
    '(height/width or shortest_edge)');
}

function cropSize(crop, source) {
  if (crop && 'height' in crop && 'width' in crop) return [Number(crop.height), Number(crop.width)];
  throw new Error(`${source}: unsupported crop_size=${JSON.stringify(crop)}`);
}

function centerCrop(rgb, w, h, [height, width]) {
  if (height > h || width > w) {
    throw new Error(`centre crop ${height}x${width} is larger than the resized image ${h}x${w}`);
  }
  const top = Math.floor((h - height) / 2);
  const left = Math.floor((w - width) / 2);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * w + left) * 3;
    out.set(rgb.subarray(s, s + width * 3), y * width * 3);
  }
  return { rgb: out, w: width, h: height };
}
