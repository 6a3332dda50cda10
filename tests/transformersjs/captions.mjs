// Caption every image with each runner in turn, in one page of tests/transformersjs/pages.
// args: {url (the page), threads, runs: [{runner: 'ved'|'llava'|'distilvit', model, dtype,
//        urls, options, cache (false: our module skips the Cache API)}]}
//   -> {config, results: [{loadMs, images: {url: {ids, text, ms, pixels?}}}, in run order],
//       isolated, workers, requests (every URL the page asked for)}
import { runInBrowser } from '../browser/harness.mjs';
import { openRunnerPage } from './page.mjs';

runInBrowser(async ({ args, openPage }) => {
  const { page, config } = await openRunnerPage(openPage, args);
  const results = [];
  for (const run of args.runs) {
    results.push(await page.evaluate(async ({ run, threads }) => {
      const { runners } = window;
      const { id, loadMs } = await runners.load(run.runner, run.model, run.dtype,
        { threads, cache: run.cache });
      const images = {};
      for (const url of run.urls) images[url] = await runners.caption(id, url, run.options);
      await runners.dispose(id);
      return { loadMs, images };
    }, { run, threads: args.threads }));
  }
  return { config, results, isolated: await page.evaluate(() => crossOriginIsolated),
    workers: page.workersSeen, requests: page.requestsSeen };
});
