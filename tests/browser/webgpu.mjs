// With a WebGPU adapter (Chromium's software one, --enable-unsafe-webgpu): fp32 runs on
// WebGPU under device 'auto', INT8 stays on WASM. args: {url, model, image, maxNewTokens}
import { runInBrowser } from './harness.mjs';

runInBrowser(async ({ args, openPage }) => {
  const page = await openPage(args.url);
  await page.waitForFunction(() => document.title === 'ready');
  return page.evaluate(async ({ model, image, maxNewTokens }) => {
    const { Captioner } = window.distilvit;
    const adapter = Boolean(navigator.gpu && await navigator.gpu.requestAdapter());
    const fp32 = await Captioner.load(model, { dtype: 'fp32' });
    const { tokens } = await fp32.caption(await (await fetch(image)).blob(), { maxNewTokens });
    const int8 = await Captioner.load(model, { dtype: 'int8' });
    return { adapter, fp32: { device: fp32.info.device, tokens }, int8: { device: int8.info.device } };
  }, args);
});
