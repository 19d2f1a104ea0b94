// WebXR AR on a phone, through the product page: the emulated ARCore phone (xr_runtime.mjs) stands in a
// recorded room, the page offers WebXR AR, the AR button starts an immersive-ar session, the reticle finds
// the room's floor (hit test), a tap places the product, a drag turns it, a second tap moves it, the exit
// button ends the session; the analytics events are flushed to the service.
//
// args: {base, merchant, sku, artifacts (folder for the AR frame screenshots), room?}
// result: the measurements below; pytest compares them with the product's real size and the room's floor.
import path from 'node:path';

import { flushAnalytics, waitReady } from './viewer_page.mjs';
import { installXR, yawPitch } from './xr_runtime.mjs';
import { dragAcross, measurePlaced, poseDevice, press, setPlacedVisible, xrFrames } from './xr_steps.mjs';

// Held at 1.4 m, facing the room's +Z, tilted 52° down: the centre ray meets the floor ~1.1 m ahead.
const HELD = { position: [0, 1.4, 0], quaternion: yawPitch(Math.PI, -0.9) };
// The same, turned 20° to the side: the reticle lands elsewhere on the floor.
const TURNED = { position: [0, 1.4, 0], quaternion: yawPitch(Math.PI + 0.35, -0.9) };

export default async function arPhone(ctx, { base, merchant, sku, artifacts, room = 'office_small' }) {
  const page = await ctx.newPage({ viewport: { width: 480, height: 800 } }, 'ar-phone');
  const { floorY } = await installXR(page, { nodeModules: ctx.nodeModules, device: 'phone', room, pose: HELD });
  await page.goto(`${base}/p/${merchant}/${sku}`);
  await waitReady(page);
  const button = page.locator('immersive-product .ar');
  await button.waitFor({ state: 'visible' });
  const offeredMode = await button.getAttribute('data-mode');
  const dimensions = await page.evaluate(() => document.querySelector('immersive-product').product.dimensions_m);

  const clicked = performance.now();
  await button.click();
  await page.waitForFunction(() => window.__immersive.xr?.running);
  const session = await page.evaluate(() => {
    const xr = window.__immersive.xr;
    return { blend: xr.session.environmentBlendMode, surface: xr.surface, referenceSpace: xr.referenceSpaceType };
  });
  await page.waitForFunction(() => window.__immersive.xr.status === 'ready');
  const reticleFound = performance.now() - clicked;
  const hint = await page.locator('immersive-product .overlay .hint').textContent();

  // Tap: the emulated controller's trigger is the phone's screen tap (both are an XR select).
  await press(page);
  await page.waitForFunction(() => window.__immersive.xr.placed);
  await xrFrames(page, 3);
  const placed = await measurePlaced(page);
  const framePath = path.join(artifacts, 'ar_frame.png');
  await page.screenshot({ path: framePath });
  await setPlacedVisible(page, false);
  const withoutPath = path.join(artifacts, 'ar_frame_without_model.png');
  await page.screenshot({ path: withoutPath });
  await setPlacedVisible(page, true);

  // Drag a third of the screen width on the overlay: a quarter turn about the vertical.
  await dragAcross(page, 1 / 3);
  const turned = await measurePlaced(page);

  // Point elsewhere and tap again: the product moves there, keeping its turn.
  await poseDevice(page, TURNED.position, TURNED.quaternion);
  await page.waitForFunction(() => window.__immersive.xr.status === 'placed' && window.__immersive.xr.reticle.visible);
  await press(page);
  await page.waitForFunction(() => window.__immersive.xr.moves === 1);
  await xrFrames(page, 2);
  const moved = await measurePlaced(page);

  await page.locator('immersive-product .overlay .exit').evaluate((exit) => exit.click()); // under the emulator's canvas
  await page.waitForFunction(() => !window.__immersive.xr);
  const afterExit = await page.evaluate(() => {
    const viewer = document.querySelector('immersive-product').viewer;
    return { presenting: viewer.renderer.xr.isPresenting, overlayShown: document.querySelector('immersive-product').shadowRoot.querySelector('.overlay').classList.contains('active') };
  });
  const analyticsSession = await flushAnalytics(page);
  return {
    offeredMode, dimensions, floorY, session, hint, reticleFoundMs: reticleFound, placed, turned, moved,
    afterExit, analyticsSession, screenshots: { frame: framePath, without: withoutPath },
  };
}
