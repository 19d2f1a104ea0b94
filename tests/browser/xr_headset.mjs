// The headset view, through the product page: an emulated VR-only headset (xr_runtime.mjs) gets the
// "View in VR" button, which starts immersive-vr with the product at true scale on the floor in front of
// the shopper; the frame loop runs and draws it; a controller (trigger) and a tracked hand (pinch) grab
// and move it; the session ends. Then a Quest 3 (passthrough) gets immersive-ar with the product on its
// floor. Analytics events are flushed to the service.
//
// args: {base, merchant, sku, artifacts}
// result: the measurements below; pytest checks them.
import path from 'node:path';

import { flushAnalytics, waitReady } from './viewer_page.mjs';
import { installXR, yawPitch } from './xr_runtime.mjs';
import { aimAt, hold, measurePlaced, moveInput, setPlacedVisible, xrFrames } from './xr_steps.mjs';

// Standing at the origin, eyes at 1.6 m, looking along -Z, 20° down.
const STANDING = { position: [0, 1.6, 0], quaternion: yawPitch(0, -0.35) };

async function openHeadsetView(ctx, { base, merchant, sku, device, room }) {
  const page = await ctx.newPage({ viewport: { width: 640, height: 480 } }, device);
  await installXR(page, { nodeModules: ctx.nodeModules, device, room, pose: STANDING });
  await page.goto(`${base}/p/${merchant}/${sku}`);
  await waitReady(page);
  const button = page.locator('immersive-product .vr');
  await button.waitFor({ state: 'visible' });
  await button.click();
  await page.waitForFunction(() => window.__immersive.xr?.running && window.__immersive.xr.content.visible);
  await xrFrames(page, 3);
  return page;
}

async function drawCalls(page) {
  await xrFrames(page, 2);
  return page.evaluate(() => document.querySelector('immersive-product').viewer.renderer.info.render.calls);
}

// Grabs the product with `tracked` (controller trigger / hand pinch), moves the hand by `delta`, lets go.
async function grabAndMove(page, { tracked, from, delta }) {
  const button = tracked === 'hand' ? 'pinch' : 'trigger';
  await aimAt(page, { from, tracked });
  const grabsBefore = await page.evaluate(() => window.__immersive.xr.grabs);
  await hold(page, true, { button });
  const grabbed = await page.evaluate((n) => window.__immersive.xr.grabs === n + 1, grabsBefore);
  await moveInput(page, delta, { tracked });
  const held = await measurePlaced(page);
  await hold(page, false, { button });
  const released = await measurePlaced(page);
  return { grabbed, held, released };
}

export default async function xrHeadset(ctx, { base, merchant, sku, artifacts }) {
  // immersive-vr shows no room: the smallest capture will do.
  const page = await openHeadsetView(ctx, { base, merchant, sku, device: 'vr-headset', room: 'office_small' });
  const vr = await page.evaluate(() => {
    const xr = window.__immersive.xr;
    return { mode: xr.mode, referenceSpace: xr.referenceSpaceType, blend: xr.session.environmentBlendMode };
  });
  const placed = await measurePlaced(page);
  const dimensions = await page.evaluate(() => document.querySelector('immersive-product').product.dimensions_m);

  // Frames drawn while the rest of the session runs (screenshots, grabs), and how long that took.
  const frameCount = () => page.evaluate(() => ({ frames: window.__immersive.xr.frames, ms: performance.now() }));
  const framesBefore = await frameCount();
  const callsWith = await drawCalls(page);
  const framePath = path.join(artifacts, 'xr_vr_frame.png');
  await page.screenshot({ path: framePath });
  await setPlacedVisible(page, false);
  const callsWithout = await drawCalls(page);
  const withoutPath = path.join(artifacts, 'xr_vr_frame_without_model.png');
  await page.screenshot({ path: withoutPath });
  await setPlacedVisible(page, true);

  const controller = await grabAndMove(page, { tracked: 'controller', from: [0.2, 1.2, -0.3], delta: [0.5, 0.3, 0] });
  const hand = await grabAndMove(page, { tracked: 'hand', from: [0.25, 1.1, -0.3], delta: [-0.3, 0.2, -0.2] });
  const grabs = await page.evaluate(() => window.__immersive.xr.grabs);
  const framesAfter = await frameCount();

  await page.evaluate(() => window.__immersive.xr.end());
  await page.waitForFunction(() => !window.__immersive.xr);
  const viewerFramesAfterEnd = await page.evaluate(async () => {
    const viewer = document.querySelector('immersive-product').viewer;
    const before = viewer.frames;
    viewer.needsRender = true;
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return { presenting: viewer.renderer.xr.isPresenting, drew: viewer.frames > before };
  });
  const vrSession = await flushAnalytics(page);

  // A passthrough headset: the same button starts immersive-ar, the product on the room's floor.
  // The living room has free floor where the product appears (office_small has a table there).
  const questPage = await openHeadsetView(ctx, { base, merchant, sku, device: 'quest3', room: 'living_room' });
  const passthrough = await questPage.evaluate(() => {
    const xr = window.__immersive.xr;
    return { mode: xr.mode, blend: xr.session.environmentBlendMode };
  });
  const passthroughPlaced = await measurePlaced(questPage);
  const passthroughPath = path.join(artifacts, 'xr_passthrough_frame.png');
  await questPage.screenshot({ path: passthroughPath });
  await questPage.evaluate(() => window.__immersive.xr.end());
  await questPage.waitForFunction(() => !window.__immersive.xr);
  const passthroughSession = await flushAnalytics(questPage);

  return {
    vr, dimensions, placed, frames: { count: framesAfter.frames - framesBefore.frames, ms: framesAfter.ms - framesBefore.ms },
    drawCalls: { with: callsWith, without: callsWithout }, controller, hand, grabs, viewerFramesAfterEnd,
    passthrough, passthroughPlaced, analyticsSessions: { vr: vrSession, passthrough: passthroughSession },
    screenshots: { frame: framePath, without: withoutPath, passthrough: passthroughPath },
  };
}
