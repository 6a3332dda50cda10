// Open tests/transformersjs/pages/index.html and configure transformers.js for local files.
export async function openRunnerPage(openPage, args) {
  const page = await openPage(args.url);
  await page.waitForFunction(() => document.title === 'ready');
  const config = await page.evaluate((threads) => window.runners.configure({ threads }), args.threads ?? 0);
  return { page, config };
}
