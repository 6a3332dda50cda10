// Caption images in one page with each dtype; return tokens, captions, pixel values, and
// what the page learned about threads. args: {url (module page), model, dtypes, images,
// beams, beamImages (beam search with this many beams on these images)}
import { runInBrowser } from './harness.mjs';

runInBrowser(async ({ args, openPage }) => {
  const page = await openPage(args.url);
  await page.waitForFunction(() => document.title === 'ready');
  const result = await page.evaluate(async ({ model, dtypes, images, beams, beamImages }) => {
    const { Captioner } = window.distilvit;
    const readImage = window.distilvit.images.readImage;
    const out = { hardwareConcurrency: navigator.hardwareConcurrency, dtypes: {} };
    for (const dtype of dtypes) {
      const captioner = await Captioner.load(model, { dtype });
      const entry = { info: captioner.info, images: {} };
      for (const url of images) {
        const blob = await (await fetch(url)).blob();
        const { tokens, caption, timings } = await captioner.caption(blob);
        const pixels = Array.from(captioner.preprocessor.apply(await readImage(blob)).data);
        entry.images[url] = { tokens, caption, timings, pixels };
        if (beamImages.includes(url)) entry.images[url].beam = (await captioner.caption(blob, { numBeams: beams })).tokens;
      }
      // Captions asked for at once run one after the other, with the same results.
      const blobs = await Promise.all(images.map(async (url) => (await fetch(url)).blob()));
      const together = await Promise.all(blobs.map((blob) => captioner.caption(blob)));
      entry.concurrent = together.map((r) => r.tokens);
      await captioner.dispose();
      out.dtypes[dtype] = entry;
    }
    return out;
  }, args);
  result.workers = page.workersSeen;
  return result;
});
