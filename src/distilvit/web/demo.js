// The demo page: pick a model, load it with a progress bar, caption images from the file
// picker, drag-and-drop or the clipboard. ?model=SOURCE&dtype=int8|fp32 loads a model at once;
// without it, a model served beside the page at ./model/ (`distilvit demo DIR`) is used.
import { missingFeatures } from './support.js';

const $ = (id) => document.getElementById(id);
const state = { module: null, captioner: null, loading: null, loadedKey: null };

function show(id, text) {
  $(id).textContent = text;
}

function fail(error) {
  show('error', error?.message ?? String(error));
}

function formatBytes(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

const ms = (v) => `${v.toFixed(1)} ms`;

function dtype() {
  return document.querySelector('input[name="dtype"]:checked').value;
}

function onProgress({ loaded, total, fromCache }) {
  $('progress').max = total || 1;
  $('progress').value = loaded;
  const where = fromCache ? "from this browser's cache" : 'downloading';
  show('progress-text', `${formatBytes(loaded)} of ${formatBytes(total)} (${where})`);
}

async function runtime() {
  // onnxruntime-web is imported here, not at the top: if it cannot be fetched, say so.
  state.module ??= await import('./captioner.js').catch((error) => {
    throw new Error(`could not load the captioning runtime (onnxruntime-web at ./ort/): ${error.message}`);
  });
  return state.module;
}

async function loadModel() {
  const source = $('source').value.trim();
  const key = `${source}|${dtype()}`;
  if (!source || key === state.loadedKey) return state.captioner;
  show('error', '');
  $('load').disabled = true;
  $('progress-area').hidden = false;
  $('progress').value = 0;
  show('status', `Loading ${source} (${dtype()})…`);
  try {
    const { Captioner } = await runtime();
    const captioner = await Captioner.load(source, { dtype: dtype(), onProgress });
    await state.captioner?.dispose();
    Object.assign(state, { captioner, loadedKey: key });
    const { device, threads, fromCache, loadMs } = captioner.info;
    show('status', `Model loaded: ${source}, ${captioner.dtype.toUpperCase()}, ${device.toUpperCase()}` +
      `${device === 'wasm' ? `, ${threads} thread${threads > 1 ? 's' : ''}` : ''}` +
      `${fromCache ? ", from this browser's cache" : ''} (${(loadMs / 1000).toFixed(1)} s).`);
    return captioner;
  } catch (error) {
    show('status', state.captioner ? `Still using the previous model (${state.loadedKey.replace('|', ', ')}).` : '');
    fail(error);
    return null;
  } finally {
    $('load').disabled = false;
    $('progress-area').hidden = true;
  }
}

// One load at a time; a second request waits for the first.
function ensureModel() {
  state.loading = (state.loading ?? Promise.resolve()).then(loadModel);
  return state.loading;
}

async function captionImage(file) {
  if (!file) return;
  show('error', '');
  const captioner = state.captioner ?? await ensureModel();
  if (!captioner) {
    fail(new Error('Load a model first (enter a model source above).'));
    return;
  }
  const preview = $('preview');
  $('caption').setAttribute('aria-busy', 'true');
  show('caption', 'Describing the image…');
  try {
    const { caption, timings } = await captioner.caption(file);
    show('caption', caption || '(empty caption)');
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.alt = caption;
    preview.hidden = false;
    showTimings(timings);
  } catch (error) {
    show('caption', '');
    preview.hidden = true;
    $('timings').hidden = true;
    fail(error);
  } finally {
    $('caption').removeAttribute('aria-busy');
  }
}

function showTimings(t) {
  show('t-read', ms(t.readImageMs + t.preprocessMs));
  show('t-encode', ms(t.encodeMs - t.preprocessMs));
  show('t-prefill', ms(t.prefillMs));
  show('t-token', ms(t.perTokenMs));
  show('t-count', String(t.newTokens));
  show('t-total', ms(t.totalMs));
  $('timings').hidden = false;
}

function firstFile(dataTransfer) {
  if (!dataTransfer) return null;
  if (dataTransfer.files?.length) return dataTransfer.files[0];
  for (const item of dataTransfer.items ?? []) {
    if (item.kind === 'file') return item.getAsFile();
  }
  return null;
}

function wireImageInputs() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => captionImage(e.target.files[0]));
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      $('file').click();
    }
  });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    captionImage(firstFile(e.dataTransfer));
  });
  document.addEventListener('paste', (e) => {
    const file = firstFile(e.clipboardData);
    if (file) {
      e.preventDefault();
      captionImage(file);
    }
  });
}

async function initialSource(params) {
  if (params.get('model')) return params.get('model');
  const local = await fetch('./model/config.json', { method: 'HEAD' }).catch(() => null);
  return local?.ok ? './model/' : '';
}

async function main() {
  const missing = missingFeatures();
  if (missing.length) {
    show('unsupported', `This browser cannot run the captioner (missing: ${missing.join(', ')}). ` +
      'Please use a recent Chrome, Edge, Firefox or Safari.');
    $('unsupported').hidden = false;
    for (const element of document.querySelectorAll('input, button')) element.disabled = true;
    return;
  }
  const params = new URLSearchParams(location.search);
  if (params.get('dtype') === 'fp32') $('dtype-fp32').checked = true;
  $('model-form').addEventListener('submit', (e) => { e.preventDefault(); ensureModel(); });
  for (const radio of document.querySelectorAll('input[name="dtype"]')) {
    radio.addEventListener('change', () => { if (state.captioner) ensureModel(); });
  }
  wireImageInputs();
  $('source').value = await initialSource(params);
  if ($('source').value) await ensureModel();
  document.body.dataset.ready = 'true';
}

main().catch(fail);
