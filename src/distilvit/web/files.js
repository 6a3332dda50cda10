// Where a model's files come from, and fetching them once: the Cache API keeps every file
// after its first download, so a reload (or a later visit) reads them locally. The cache can
// be evicted by the browser at any time (persistent storage is not granted to ordinary
// pages): a miss simply downloads again.

export const CACHE_NAME = 'distilvit-models-v1';
export const HUB_URL = 'https://huggingface.co';

export class DownloadError extends Error {
  constructor(url, reason) {
    super(`could not download ${url}: ${reason}`);
    this.name = 'DownloadError';
    this.url = url;
  }
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

// The base URL (ending in '/') of a model source:
//   'org/name'                 a Hugging Face Hub repository: <hubUrl>/org/name/resolve/<revision>/
//   'https://host/path'        any base URL
//   '/path', './path', '../p'  a folder served beside the page (resolved against the page)
//   'name'                     a single-segment relative path (a folder beside the page)
// A relative path with a slash and no './' looks like a Hub id: write it './models/x'.
export function resolveSource(source, { hubUrl = HUB_URL, revision = 'main', base } = {}) {
  const text = String(source ?? '').trim();
  if (!text) throw new Error('no model source given (a Hub id such as org/name, or a URL)');
  let url;
  if (HUB_ID.test(text) && !text.startsWith('.')) {
    url = `${hubUrl.replace(/\/+$/, '')}/${text}/resolve/${encodeURIComponent(revision)}/`;
  } else if (HAS_SCHEME.test(text)) {
    url = text;
  } else {
    url = new URL(text, base ?? globalThis.location?.href).href;
  }
  return url.endsWith('/') ? url : `${url}/`;
}

async function openCache(useCache) {
  if (!useCache || typeof caches === 'undefined') return null; // e.g. not a secure context
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return null; // storage disabled (some private modes): download every time
  }
}

// Bytes of `url`, from the cache when there, else from the network (then stored).
// `onProgress({url, loaded, total, fromCache})` is called as bytes arrive.
export async function fetchBytes(url, { useCache = true, onProgress = () => {} } = {}) {
  const cache = await openCache(useCache);
  const cached = cache ? await cache.match(url).catch(() => undefined) : undefined;
  if (cached) {
    try {
      return { bytes: await readBody(cached, url, true, onProgress), fromCache: true };
    } catch {
      await cache.delete(url).catch(() => {}); // a damaged entry: fetch it again below
    }
  }
  let response;
  try {
    response = await fetch(url, { cache: 'no-store' }); // the Cache API is the one copy
  } catch (error) {
    throw new DownloadError(url, `network error (${error.message}); check the address and ` +
      'your connection');
  }
  if (!response.ok) {
    throw new DownloadError(url, `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  const bytes = await readBody(response, url, false, onProgress);
  if (cache) {
    const headers = { 'Content-Type': response.headers.get('Content-Type') ?? 'application/octet-stream',
      'Content-Length': String(bytes.byteLength) };
    // A full cache (quota) only costs a download next time.
    await cache.put(url, new Response(bytes, { headers })).catch((e) =>
      console.warn(`distilvit: not cached ${url}: ${e.message}`));
  }
  return { bytes, fromCache: false };
}

async function readBody(response, url, fromCache, onProgress) {
  const total = Number(response.headers.get('Content-Length')) || 0;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress({ url, loaded: bytes.byteLength, total: bytes.byteLength, fromCache });
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  onProgress({ url, loaded, total, fromCache });
  for (;;) {
    let part;
    try {
      part = await reader.read();
    } catch (error) {
      throw new DownloadError(url, `interrupted after ${loaded} bytes (${error.message})`);
    }
    if (part.done) break;
    chunks.push(part.value);
    loaded += part.value.byteLength;
    onProgress({ url, loaded, total: Math.max(total, loaded), fromCache });
  }
  if (total && loaded !== total) {
    throw new DownloadError(url, `got ${loaded} of ${total} bytes`);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

export async function fetchJson(url, options) {
  const { bytes, fromCache } = await fetchBytes(url, options);
  try {
    return { json: JSON.parse(new TextDecoder().decode(bytes)), fromCache, bytes: bytes.byteLength };
  } catch (error) {
    throw new DownloadError(url, `not valid JSON (${error.message})`);
  }
}

// Forget every cached model file (or those under one base URL).
export async function clearCache(baseUrl) {
  if (typeof caches === 'undefined') return 0;
  if (!baseUrl) return (await caches.delete(CACHE_NAME)) ? 1 : 0;
  const cache = await caches.open(CACHE_NAME);
  let removed = 0;
  for (const request of await cache.keys()) {
    if (request.url.startsWith(baseUrl) && await cache.delete(request)) removed++;
  }
  return removed;
}

// Sums the progress of several files into one {loaded, total} for a progress bar.
export function progressAggregator(onProgress, files) {
  const state = new Map(files.map((url) => [url, { loaded: 0, total: 0, fromCache: false }]));
  return (event) => {
    state.set(event.url, event);
    let loaded = 0, total = 0;
    for (const s of state.values()) { loaded += s.loaded; total += s.total; }
    onProgress({ loaded, total, file: event.url, fileLoaded: event.loaded, fileTotal: event.total,
      fromCache: event.fromCache, done: [...state.values()].every((s) => s.total && s.loaded >= s.total) });
  };
}
