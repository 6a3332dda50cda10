// The demo page as a user drives it: the served model loads at once; an image from the file
// picker, the keyboard, a drop and a paste gets a caption; a non-image shows an error and the
// page keeps working; the INT8/fp32 switch reloads; a failed download is reported; a browser
// without WebAssembly gets a clear message.
// args: {url, images: {name: base64}, text: base64, missingSource}
import { runInBrowser } from './harness.mjs';

const captionAfter = async (page, action) => {
  await page.evaluate(() => {
    document.getElementById('caption').textContent = '';
    document.getElementById('error').textContent = '';
  });
  await action();
  await page.waitForFunction(() => !document.getElementById('caption').hasAttribute('aria-busy') &&
    (document.getElementById('caption').textContent || document.getElementById('error').textContent));
  return page.evaluate(() => ({
    caption: document.getElementById('caption').textContent,
    error: document.getElementById('error').textContent,
    alt: document.getElementById('preview').alt,
    timings: document.getElementById('timings').hidden ? null : document.getElementById('t-total').textContent,
    status: document.getElementById('status').textContent,
  }));
};

const file = (name, base64, mimeType) => ({ name, mimeType, buffer: Buffer.from(base64, 'base64') });

// Dispatch a drop or paste event carrying `bytes` as a file, as a user's gesture would.
const dispatchFile = (page, kind, name, base64) => page.evaluate(({ kind, name, base64 }) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: 'image/png' }));
  if (kind === 'paste') {
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
  } else {
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
  }
}, { kind, name, base64 });

async function accessibility(page) {
  return page.evaluate(() => ({
    unlabelled: [...document.querySelectorAll('input, progress')]
      .filter((el) => !el.labels?.length && !el.getAttribute('aria-label')).map((el) => el.id),
    captionLive: document.getElementById('caption').getAttribute('aria-live'),
    statusRole: document.getElementById('status').getAttribute('role'),
    errorRole: document.getElementById('error').getAttribute('role'),
    dropTabIndex: document.getElementById('drop').tabIndex,
  }));
}

runInBrowser(async ({ args, openPage, context }) => {
  const out = {};
  const page = await openPage(args.url);
  // Playwright intercepts file dialogs only once a listener exists (set up asynchronously):
  // listen from the start so that the keyboard step's dialog cannot slip through.
  page.on('filechooser', () => {});
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60000 });
  out.loaded = await page.evaluate(() => ({
    source: document.getElementById('source').value,
    status: document.getElementById('status').textContent,
    error: document.getElementById('error').textContent,
  }));
  out.a11y = await accessibility(page);
  const [first, second, third] = Object.keys(args.images);
  out.picker = await captionAfter(page, () => page.setInputFiles('#file', file(first, args.images[first], 'image/png')));
  out.notImage = await captionAfter(page, () => page.setInputFiles('#file', file('notes.txt', args.text, 'text/plain')));
  out.keyboard = await captionAfter(page, async () => {
    await page.focus('#drop');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Enter')]);
    await chooser.setFiles(file(second, args.images[second], 'image/png'));
  });
  out.drop = await captionAfter(page, () => dispatchFile(page, 'drop', third, args.images[third]));
  out.paste = await captionAfter(page, () => dispatchFile(page, 'paste', first, args.images[first]));
  await page.check('#dtype-fp32');
  await page.waitForFunction(() => /FP32/.test(document.getElementById('status').textContent));
  out.fp32 = await captionAfter(page, () => page.setInputFiles('#file', file(first, args.images[first], 'image/png')));
  await page.fill('#source', args.missingSource);
  await page.click('#load');
  await page.waitForFunction(() => document.getElementById('error').textContent);
  out.failedDownload = await page.evaluate(() => ({
    error: document.getElementById('error').textContent,
    status: document.getElementById('status').textContent,
  }));
  out.afterFailure = await captionAfter(page, () => page.setInputFiles('#file', file(second, args.images[second], 'image/png')));

  const old = await context.newPage(); // a browser without WebAssembly
  await old.addInitScript(() => { delete globalThis.WebAssembly; });
  await old.goto(args.url);
  await old.waitForFunction(() => !document.getElementById('unsupported').hidden);
  out.unsupported = await old.evaluate(() => ({
    message: document.getElementById('unsupported').textContent,
    loadDisabled: document.getElementById('load').disabled,
  }));
  return out;
});
