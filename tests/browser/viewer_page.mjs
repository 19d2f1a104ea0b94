// Helpers for scenarios that drive <immersive-product> elements (product page, embeds). They read the
// viewer's state through the element's public `.viewer` / `.ready` and window.__immersive, never through
// private fields. Element screenshots are PNG files; pytest compares their pixels.

/** Resolves when the element at `index` shows its full-detail model (its `.ready` promise). */
export async function waitReady(page, index = 0, timeout = 30000) {
  await page.evaluate((i) => {
    const element = document.querySelectorAll('immersive-product')[i];
    customElements.whenDefined('immersive-product').then(() => element.ready).then(
      () => { element.dataset.testReady = 'yes'; },
      (error) => { element.dataset.testReady = `failed: ${error.message}`; },
    );
  }, index);
  const state = await page.waitForFunction((i) => document.querySelectorAll('immersive-product')[i].dataset.testReady, index, { timeout });
  const ready = await state.jsonValue();
  if (ready !== 'yes') throw new Error(`<immersive-product> #${index} did not load: ${ready}`);
  // The poster fades out (CSS opacity transition) after the first model frame: wait until it is gone.
  await page.waitForFunction((i) => {
    const poster = document.querySelectorAll('immersive-product')[i].shadowRoot.querySelector('.poster');
    return poster.hidden || getComputedStyle(poster).opacity === '0';
  }, index, { timeout });
}

/**
 * Stops the auto-rotation (and its damping) and puts the camera back at the viewer's framing, so that
 * successive screenshots differ only by what the test changed.
 */
export async function freeze(page, index = 0) {
  await page.evaluate((i) => {
    const viewer = document.querySelectorAll('immersive-product')[i].viewer;
    viewer.controls.autoRotate = false;
    for (let n = 0; n < 500 && viewer.controls.update(); n += 1);
    viewer.camera.position.copy(viewer.home.position);
    viewer.controls.target.copy(viewer.home.target);
    viewer.controls.update();
    viewer.needsRender = true;
  }, index);
  await nextFrames(page);
}

/** Waits until the page has rendered and composited two more frames. */
export async function nextFrames(page, count = 2) {
  await page.evaluate((n) => new Promise((resolve) => {
    const step = (left) => (left ? requestAnimationFrame(() => step(left - 1)) : resolve());
    step(n);
  }), count);
}

/** Shows or hides the product model (the rest of the scene stays) and waits for the new frame. */
export async function setModelVisible(page, visible, index = 0) {
  await page.evaluate(([i, v]) => {
    const viewer = document.querySelectorAll('immersive-product')[i].viewer;
    viewer.model.visible = v;
    viewer.needsRender = true;
  }, [index, visible]);
  await nextFrames(page);
}

/** Hides or shows an overlay layer of the element's shadow DOM (e.g. '.hotspots-layer') for a screenshot. */
export async function setLayerVisible(page, selector, visible, index = 0) {
  await page.evaluate(([i, sel, v]) => {
    document.querySelectorAll('immersive-product')[i].shadowRoot.querySelector(sel).style.visibility = v ? '' : 'hidden';
  }, [index, selector, visible]);
  await nextFrames(page);
}

/**
 * The model's on-screen bounding rectangle, in pixels of the element's screenshot: the 8 corners of its
 * world bounding box projected with the viewer's camera. Also the element's size and the model's size.
 */
export async function modelScreenBox(page, index = 0) {
  return page.evaluate((i) => {
    const element = document.querySelectorAll('immersive-product')[i];
    const viewer = element.viewer;
    const canvas = viewer.renderer.domElement.getBoundingClientRect();
    const host = element.getBoundingClientRect();
    const { min, max } = viewer.bounds;
    const xs = [];
    const ys = [];
    for (const x of [min.x, max.x]) for (const y of [min.y, max.y]) for (const z of [min.z, max.z]) {
      const p = viewer.bounds.min.clone().set(x, y, z).project(viewer.camera);
      xs.push(canvas.left - host.left + (p.x * 0.5 + 0.5) * canvas.width);
      ys.push(canvas.top - host.top + (-p.y * 0.5 + 0.5) * canvas.height);
    }
    const size = viewer.bounds.getSize(viewer.bounds.min.clone());
    return {
      box: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
      element: [host.width, host.height],
      modelSize: [size.x, size.y, size.z],
      level: viewer.modelLevel,
    };
  }, index);
}

/** Screenshot of the index-th <immersive-product> element into `file` (PNG). */
export async function shoot(page, file, index = 0) {
  await page.locator('immersive-product').nth(index).screenshot({ path: file, animations: 'allow' });
  return file;
}

/** Sends the element's queued analytics now and returns its pseudonymous session id. */
export async function flushAnalytics(page, index = 0) {
  return page.evaluate(async (i) => {
    const element = document.querySelectorAll('immersive-product')[i];
    await element.analytics.flush();
    return element.analytics.session;
  }, index);
}
