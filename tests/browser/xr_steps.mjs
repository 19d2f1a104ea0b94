// Steps shared by the XR scenarios (ar_phone.mjs, xr_headset.mjs): waiting for XR frames, pressing the
// emulated device's buttons, measuring the product as the running XR feature placed it. They read
// window.__immersive.xr (the running WebXRAR / Headset) and window.__iwer (the emulated device).

/** Resolves after the running XR feature has drawn `count` more frames. */
export async function xrFrames(page, count = 2, timeout = 10000) {
  const start = await page.evaluate(() => window.__immersive.xr.frames);
  await page.waitForFunction(([from, n]) => window.__immersive.xr.frames >= from + n, [start, count], { timeout });
}

/**
 * Presses and releases a button of the emulated device over a few frames, as a hand would: `trigger` and
 * `squeeze` of a controller (an XR select / squeeze), or `pinch` of a tracked hand.
 */
export async function press(page, options = {}) {
  await hold(page, true, options);
  await hold(page, false, options);
}

/** Presses (`down`) or releases a button of the emulated device (see press) and waits two frames. */
export async function hold(page, down, { hand = 'right', button = 'trigger' } = {}) {
  await page.evaluate(([h, b, v]) => {
    if (b === 'pinch') window.__iwer.hands[h].updatePinchValue(v);
    else window.__iwer.controllers[h].updateButtonValue(b, v);
  }, [hand, button, down ? 1 : 0]);
  await xrFrames(page, 2);
}

/**
 * A one-finger drag across `fraction` of the screen width (left to right, mid-height) on the AR gesture
 * layer of the running session's DOM overlay, as touch pointer events: a drag turns the placed product.
 */
export async function dragAcross(page, fraction) {
  await page.evaluate((share) => {
    const layer = document.querySelector('immersive-product').shadowRoot.querySelector('[data-ar-gestures]');
    const y = innerHeight / 2;
    const send = (type, x) => layer.dispatchEvent(new PointerEvent(type, {
      bubbles: true, composed: true, pointerId: 1, pointerType: 'touch', isPrimary: true, clientX: x, clientY: y, buttons: type === 'pointerup' ? 0 : 1,
    }));
    const from = innerWidth / 3;
    send('pointerdown', from);
    for (let step = 1; step <= 10; step += 1) send('pointermove', from + innerWidth * share * (step / 10));
    send('pointerup', from + innerWidth * share);
  }, fraction);
  await xrFrames(page, 2);
}

/** Moves the emulated device to `position` (metres) with orientation `quaternion` [x, y, z, w]. */
export async function poseDevice(page, position, quaternion) {
  await page.evaluate(([p, q]) => {
    window.__iwer.position.set(...p);
    window.__iwer.quaternion.set(...q);
  }, [position, quaternion]);
  await xrFrames(page, 2);
}

/**
 * Puts a controller (or, with `tracked: 'hand'`, a tracked hand) at `from` (metres), pointing at the
 * centre of the placed product.
 */
export async function aimAt(page, { from, hand = 'right', tracked = 'controller' }) {
  await page.evaluate(async ([origin, h, kind]) => {
    const THREE = await import('three');
    const device = window.__iwer;
    device.primaryInputMode = kind;
    const input = kind === 'hand' ? device.hands[h] : device.controllers[h];
    const target = new THREE.Box3().setFromObject(window.__immersive.xr.model, true).getCenter(new THREE.Vector3());
    const start = new THREE.Vector3(...origin);
    const q = new THREE.Quaternion().setFromUnitVectors(new THREE.Vector3(0, 0, -1), target.sub(start).normalize());
    input.position.set(...origin);
    input.quaternion.set(q.x, q.y, q.z, q.w);
  }, [from, hand, tracked]);
  await xrFrames(page, 2);
}

/** Moves a controller (or tracked hand) by `delta` (metres) and waits for frames to follow it. */
export async function moveInput(page, delta, { hand = 'right', tracked = 'controller' } = {}) {
  await page.evaluate(([d, h, kind]) => {
    const input = kind === 'hand' ? window.__iwer.hands[h] : window.__iwer.controllers[h];
    input.position.set(input.position.x + d[0], input.position.y + d[1], input.position.z + d[2]);
  }, [delta, hand, tracked]);
  await xrFrames(page, 3);
}

/**
 * The product as placed, in the session's reference space (metres): the world-space bounding box of its
 * vertices, where its front (+Z) points, how far the world scale is from 1, and how many frames were drawn.
 */
export async function measurePlaced(page) {
  return page.evaluate(async () => {
    const THREE = await import('three');
    const xr = window.__immersive.xr;
    xr.content.updateMatrixWorld(true);
    const box = new THREE.Box3().setFromObject(xr.model, true); // precise: every vertex in world space
    const front = new THREE.Vector3(0, 0, 1).transformDirection(xr.model.matrixWorld);
    const scale = new THREE.Vector3().setFromMatrixScale(xr.model.matrixWorld);
    return {
      min: box.min.toArray(),
      max: box.max.toArray(),
      size: box.getSize(new THREE.Vector3()).toArray(),
      position: new THREE.Vector3().setFromMatrixPosition(xr.content.matrixWorld).toArray(),
      front: front.toArray(),
      scale: scale.toArray(),
      frames: xr.frames,
    };
  });
}

/** Shows or hides the placed product for the next frames (to compare pixels with and without it). */
export async function setPlacedVisible(page, visible) {
  await page.evaluate((v) => { window.__immersive.xr.model.visible = v; }, visible);
  await xrFrames(page, 3);
}
