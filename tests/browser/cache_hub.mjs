// Model files: downloaded once, then read from the Cache API (a reload fetches no model
// bytes); a cleared cache downloads again; Hub ids resolve to <hubUrl>/<id>/resolve/<rev>/;
// a missing model fails with a DownloadError naming the URL.
// args: {url (module page), model, image, hubUrl, hubId, missingHubId}
import { runInBrowser } from './harness.mjs';

async function loadAndCaption(page, source, options) {
  return page.evaluate(async ({ source, options, image }) => {
    const { Captioner } = window.distilvit;
    const captioner = await Captioner.load(source, options);
    const { caption, tokens } = await captioner.caption(await (await fetch(image)).blob());
    await captioner.dispose();
    return { caption, tokens, info: captioner.info };
  }, { source, options, image: page.image });
}

async function freshPage(openPage, args) {
  const page = await openPage(args.url);
  await page.waitForFunction(() => document.title === 'ready');
  page.image = args.image;
  return page;
}

const onnxRequests = (page) => page.requestsSeen.filter((u) => u.endsWith('.onnx'));

runInBrowser(async ({ args, openPage }) => {
  const steps = {};
  let page = await freshPage(openPage, args);
  steps.first = { ...await loadAndCaption(page, args.model, { dtype: 'int8' }), onnx: onnxRequests(page),
    workers: page.workersSeen, isolated: await page.evaluate(() => crossOriginIsolated) };
  await page.close();

  page = await freshPage(openPage, args); // a reload: same profile, same Cache Storage
  steps.reload = { ...await loadAndCaption(page, args.model, { dtype: 'int8' }), onnx: onnxRequests(page) };

  await page.evaluate(() => caches.delete('distilvit-models-v1')); // the browser evicted it
  page.requestsSeen.length = 0;
  steps.evicted = { ...await loadAndCaption(page, args.model, { dtype: 'int8' }), onnx: onnxRequests(page) };

  const hub = { hubUrl: args.hubUrl, dtype: 'int8' };
  page.requestsSeen.length = 0;
  steps.hub = { ...await loadAndCaption(page, args.hubId, hub), onnx: onnxRequests(page) };
  page.requestsSeen.length = 0;
  steps.hubAgain = { ...await loadAndCaption(page, args.hubId, hub), onnx: onnxRequests(page) };
  steps.resolved = await page.evaluate(({ hubUrl }) => {
    const { resolveSource } = window.distilvit;
    return {
      hub: resolveSource('org/name', { hubUrl }),
      revision: resolveSource('org/name', { hubUrl, revision: 'v1.0' }),
      defaultHub: resolveSource('org/name'),
      url: resolveSource('https://example.org/models/x'),
      absolute: resolveSource('/models/x'),
      relative: resolveSource('./models/x'),
      single: resolveSource('model'),
      page: location.href,
    };
  }, { hubUrl: args.hubUrl });
  steps.missing = await page.evaluate(async ({ id, hubUrl }) => {
    try {
      await window.distilvit.Captioner.load(id, { hubUrl });
      return null;
    } catch (error) {
      return { name: error.name, message: error.message };
    }
  }, { id: args.missingHubId, hubUrl: args.hubUrl });
  return steps;
});
