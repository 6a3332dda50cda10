// The node side of tests/browser_harness.py: launch Chromium, run a check, write JSON.
//
//   import { runInBrowser } from './harness.mjs';
//   runInBrowser(async ({ context, args, openPage }) => {
//     const page = await openPage(args.url);
//     return await page.evaluate(() => document.title);
//   });
//
// The check's return value is written as {ok: true, result, console}; a thrown error as
// {ok: false, error, console}. `console` collects every page's console messages and errors.
// `runInNode(check)` is the same without a browser (checks of the DOM-free modules).
import { readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

export function runInBrowser(check) {
  return run(check, true);
}

export function runInNode(check) {
  return run(check, false);
}

async function run(check, withBrowser) {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const consoleLines = [];
  let outcome;
  let context;
  try {
    const tools = { args: config.args, consoleLines };
    if (withBrowser) {
      const { userDataDir, ...launch } = config.launch;
      context = await chromium.launchPersistentContext(userDataDir, { ...launch, headless: true });
      tools.context = context;
      tools.openPage = (url, options = {}) => openLoggedPage(context, url, consoleLines, options);
    }
    outcome = { ok: true, result: await check(tools), console: consoleLines };
  } catch (error) {
    outcome = { ok: false, error: String(error?.stack || error), console: consoleLines };
  } finally {
    if (context) await context.close().catch(() => {});
  }
  writeFileSync(config.resultPath, JSON.stringify(outcome));
}

// A new page whose console, errors, requests and workers are recorded; navigated to `url`.
// page.requestsSeen: URLs the page asked the network for (Cache API reads are not requests);
// page.workersSeen: URLs of the workers it started (onnxruntime-web's WASM threads are workers).
export async function openLoggedPage(context, url, consoleLines, { waitUntil = 'load' } = {}) {
  const page = await context.newPage();
  page.requestsSeen = [];
  page.workersSeen = [];
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  page.on('request', (r) => page.requestsSeen.push(r.url()));
  page.on('worker', (w) => page.workersSeen.push(w.url()));
  if (url) await page.goto(url, { waitUntil });
  return page;
}
