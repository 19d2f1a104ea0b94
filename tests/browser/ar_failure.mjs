// WebXR AR on a phone that cannot hit-test (an emulated phone with no room, so no hit test source): the
// session cannot work, the AR feature reports ar_failed with its reason, the element tells the shopper and
// keeps the 3D view.
//
// args: {base, merchant, sku}
import { flushAnalytics, waitReady } from './viewer_page.mjs';
import { installXR } from './xr_runtime.mjs';

export default async function arFailure(ctx, { base, merchant, sku }) {
  const page = await ctx.newPage({ viewport: { width: 480, height: 800 } }, 'ar-no-hit-test');
  await installXR(page, { nodeModules: ctx.nodeModules, device: 'phone', room: null });
  await page.goto(`${base}/p/${merchant}/${sku}`);
  await waitReady(page);
  const button = page.locator('immersive-product .ar');
  await button.click();
  const status = page.locator('immersive-product .status');
  await status.filter({ hasText: /AR/ }).waitFor();
  const after = await page.evaluate(async () => {
    const element = document.querySelector('immersive-product');
    const viewer = element.viewer;
    const before = viewer.frames;
    viewer.needsRender = true;
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return {
      presenting: viewer.renderer.xr.isPresenting,
      running: Boolean(window.__immersive.xr),
      overlayShown: element.shadowRoot.querySelector('.overlay').classList.contains('active'),
      viewerDraws: viewer.frames > before,
    };
  });
  return { status: await status.textContent(), after, analyticsSession: await flushAnalytics(page) };
}
