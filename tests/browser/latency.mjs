// Caption latency in the browser: for each thread count, a fresh page loads the model and
// captions one decoded image `runs` times after a warm-up (bench/browser_latency.py).
// args: {url (module page), model, dtype, image, threads: [1, 2], runs, generation}
import { runInBrowser } from './harness.mjs';

runInBrowser(async ({ args, openPage }) => {
  const results = {};
  for (const threads of args.threads) {
    const page = await openPage(args.url);
    await page.waitForFunction(() => document.title === 'ready');
    results[threads] = await page.evaluate(async ({ model, dtype, image, threads, runs, generation }) => {
      const { Captioner, images } = window.distilvit;
      const captioner = await Captioner.load(model, { dtype, threads, cache: false });
      const pixels = await images.readImage(await (await fetch(image)).blob());
      await captioner.caption(pixels, generation); // warm-up
      const samples = [];
      for (let i = 0; i < runs; i++) samples.push((await captioner.caption(pixels, generation)).timings);
      await captioner.dispose();
      return { info: captioner.info, samples };
    }, { ...args, threads });
    results[threads].workers = page.workersSeen.length;
    await page.close();
  }
  return results;
});
