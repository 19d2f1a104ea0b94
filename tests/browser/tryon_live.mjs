// The try-on page /tryon/{merchant}/{sku} with a fake camera (Chromium plays the Y4M video the test made as the
// webcam) in each mode: mode=kiosk (frames over the stream WebSocket, transforms from the service) and mode=device
// (tasks-vision's Face Landmarker in this browser). Per mode:
//   1. open the page, press "Start try-on", wait until `minFrames` results with a face have been drawn;
//   2. pause tracking and freeze the video (the same video frame in every capture below), then: a screenshot of the
//      stage with the product (artifact), the overlay canvas alone (PNG, its alpha is where the product is), a
//      screenshot with the product hidden;
//   3. the last result, the counters, the measurements and the privacy notice as shown;
//   4. "Stop", analytics flushed: the session id for pytest to read tryon_started/tryon_ended back.
// args: {base, merchant, sku, video, modes: [...], minFrames, artifacts, work}.
import path from 'node:path';

import { nextFrames } from './viewer_page.mjs';

const VIEWPORT = { width: 900, height: 900 };

export function chromiumArgs({ video }) {
  return ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`];
}

export default async function tryonLive(ctx, args) {
  // MediaPipe's wasm prints its TFLite delegate notice on the console's error channel: not a page problem.
  ctx.allowProblems(/Created TensorFlow Lite XNNPACK delegate for CPU/);
  const results = {};
  for (const mode of args.modes) {
    const page = await ctx.newPage({ viewport: VIEWPORT, locale: 'en-GB' }, `tryon-${mode}`);
    try {
      results[mode] = await tryonPage(page, mode, args);
    } catch (error) {
      results[mode] = { error: error.stack || String(error) };
    } finally {
      await page.context().close();
    }
  }
  return results;
}

async function tryonPage(page, mode, { base, merchant, sku, minFrames, artifacts, work }) {
  const result = { shots: {} };
  const webSockets = [];
  page.on('websocket', (socket) => webSockets.push(socket.url()));
  const requests = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    requests.push(`${request.method()} ${['data:', 'blob:'].includes(url.protocol) ? url.protocol : url.origin + url.pathname}`);
  });
  await page.goto(`${base}/tryon/${encodeURIComponent(merchant)}/${encodeURIComponent(sku)}?mode=${mode}`);
  result.title = await page.title();
  result.privacy = await page.locator('#privacy').textContent();
  await page.locator('#start').click();
  await page.waitForFunction((n) => {
    const state = window.__immersive?.tryon;
    return state?.tracking && state.tracking.framesWithFace >= n && state.last?.items.length > 0 && state.view.frames > 0;
  }, minFrames, { timeout: 120000 });

  // 2. The same video frame for every capture: tracking and the video paused.
  await page.evaluate(() => { window.__immersive.tryon.tracking.running = false; });
  // Kiosk: the newest frame sent is always answered (older ones may be dropped): it is drawn before the captures.
  await page.waitForFunction(() => {
    const tracking = window.__immersive.tryon.tracking;
    return tracking.sent === undefined || tracking.answered === tracking.sent;
  }, null, { timeout: 30000 });
  await freezeVideo(page);
  result.last = await page.evaluate(() => {
    const { last, tracking, view } = window.__immersive.tryon;
    return { ...last, stats: { frames: tracking.frames, framesWithFace: tracking.framesWithFace, sent: tracking.sent ?? null, drawn: view.frames } };
  });
  result.stage = await page.evaluate(() => {
    const stage = document.getElementById('stage');
    const canvas = window.__immersive.tryon.view.renderer.domElement;
    return {
      box: [stage.clientWidth, stage.clientHeight],
      canvas: [canvas.width, canvas.height],
      mirrored: stage.classList.contains('mirrored'),
      video: [document.getElementById('video').videoWidth, document.getElementById('video').videoHeight],
    };
  });
  result.shots.stage = path.join(artifacts, `tryon-${mode}-${sku}.png`);
  await page.locator('#stage').screenshot({ path: result.shots.stage });
  const overlay = await page.evaluate(() => window.__immersive.tryon.view.renderer.domElement.toDataURL('image/png'));
  result.overlay = overlay.slice(overlay.indexOf(',') + 1); // base64 PNG, unmirrored: the video frame's orientation
  await setProductVisible(page, false);
  result.shots.without = path.join(work, `tryon-${mode}-${sku}-without.png`);
  await page.locator('#stage').screenshot({ path: result.shots.without });
  await setProductVisible(page, true);
  // Last: a full-page screenshot may resize the viewport (and the stage by a pixel) while it is taken.
  result.shots.page = path.join(artifacts, `tryon-${mode}-${sku}-page.png`);
  await page.screenshot({ path: result.shots.page, fullPage: true });

  // 3. What the shopper reads.
  result.shown = await page.evaluate(() => ({
    pd: document.getElementById('pd').textContent,
    faceWidth: document.getElementById('face-width').textContent,
    frameSize: document.getElementById('frame-size').textContent,
    frameSizeValue: document.getElementById('frame-size').dataset.size ?? null,
    measurementsHidden: document.getElementById('measurements').hidden,
  }));

  // 4. Stop: tryon_ended, then the events are sent.
  await page.evaluate(() => window.__immersive.tryon.end()); // resolves when the events are at the service
  result.session = await page.evaluate(() => sessionStorage.getItem('immersive.session')); // analytics.js' tab id
  result.webSockets = webSockets;
  result.requests = [...new Set(requests)];
  return result;
}

/** A live camera's frames keep reaching the screen after pause() (whenever the stage repaints), so the video is
 * covered by a still copy of its current frame, mirrored like it, under the product's canvas. */
async function freezeVideo(page) {
  await page.evaluate(() => {
    const video = document.getElementById('video');
    video.pause();
    const still = document.createElement('canvas');
    Object.assign(still, { id: 'still', width: video.videoWidth, height: video.videoHeight });
    still.getContext('2d').drawImage(video, 0, 0);
    Object.assign(still.style, { position: 'absolute', inset: '0', width: '100%', height: '100%', transform: getComputedStyle(video).transform });
    video.after(still);
    video.style.visibility = 'hidden';
  });
  await nextFrames(page);
}

/** Shows or hides the product and waits for the new frame on screen. */
async function setProductVisible(page, visible) {
  await page.evaluate((v) => {
    const { view } = window.__immersive.tryon;
    view.product.visible = v;
    view.render();
  }, visible);
  await nextFrames(page);
}
