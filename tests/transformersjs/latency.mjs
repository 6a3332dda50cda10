// Load every runtime (first load, then a reload), then caption in interleaved rounds: each
// round runs every runtime once, starting from a different one, so a change of load on a
// shared machine spreads over all of them. Used by bench/transformersjs_latency.py.
// args: {url (the page), threads, runtimes: [{runner, model, dtype}], urls (one per round),
//        options (caption options)}
//   -> {config, isolated, workers, runtimes: [{loadMs, reloadMs, info, samples: [{ms, text, ids}]}]}
import { runInBrowser } from '../browser/harness.mjs';
import { openRunnerPage } from './page.mjs';

runInBrowser(async ({ args, openPage }) => {
  const { page, config } = await openRunnerPage(openPage, args);
  const runtimes = await page.evaluate(async ({ runtimes, urls, options, threads }) => {
    const { runners } = window;
    const loaded = [];
    for (const r of runtimes) {
      loaded.push({ ...await runners.load(r.runner, r.model, r.dtype, { reload: true, threads }),
        samples: [] });
    }
    for (const [round, url] of urls.entries()) {
      for (let k = 0; k < loaded.length; k++) {
        const entry = loaded[(round + k) % loaded.length];
        entry.samples.push(await runners.caption(entry.id, url, options));
      }
    }
    for (const entry of loaded) await runners.dispose(entry.id);
    return loaded;
  }, { ...args, threads: args.threads });
  return { config, runtimes, isolated: await page.evaluate(() => crossOriginIsolated),
    workers: page.workersSeen };
});
