// The product page /p/{merchant}/{sku} of each product, in one Chromium:
//   1. model requests (*.glb) are held back: the poster must be on screen with no model yet (screenshot);
//   2. released: the page loads LOD2 then LOD0; with the camera frozen at the viewer's framing, one
//      screenshot with the model and one with the model hidden (the same page's background);
//   3. hotspots (positions in the element, one opened by a click), the dimensions overlay in metres and in
//      inches (screenshot), each variant in turn (screenshot each);
//   4. the analytics queue is flushed; the session id is returned so that pytest can read the events back.
// args: {base, merchant, skus: [...], artifacts: dir for the screenshots people look at, work: dir for the
// others}. Returns {sku: {...}} per product; a product whose steps threw has {error}.
import path from 'node:path';

import { flushAnalytics, freeze, modelScreenBox, nextFrames, setLayerVisible, setModelVisible, shoot, waitReady } from './viewer_page.mjs';

const VIEWPORT = { width: 1100, height: 760 };

export default async function productPages(ctx, { base, merchant, skus, artifacts, work }) {
  const results = {};
  for (const sku of skus) {
    const page = await ctx.newPage({ viewport: VIEWPORT, locale: 'en-GB' }, sku);
    try {
      results[sku] = await productPage(page, { base, merchant, sku, artifacts, work });
    } catch (error) {
      results[sku] = { error: error.stack || String(error) };
    } finally {
      await page.context().close();
    }
  }
  return results;
}

async function productPage(page, { base, merchant, sku, artifacts, work }) {
  const result = { shots: {} };
  // Model files wait behind this gate until the poster has been checked.
  const heldModels = [];
  let openGate;
  const gate = new Promise((resolve) => { openGate = resolve; });
  await page.route((url) => url.pathname.endsWith('.glb'), async (route) => {
    heldModels.push(route.request().url());
    await gate;
    await route.continue();
  });
  const url = `${base}/p/${encodeURIComponent(merchant)}/${encodeURIComponent(sku)}`;
  await page.goto(url);
  result.title = await page.title();

  // 1. Poster first: painted while no model byte has arrived.
  await page.waitForFunction(() => performance.getEntriesByName('immersive:poster').length > 0);
  await page.waitForFunction(() => {
    const poster = document.querySelector('immersive-product')?.shadowRoot.querySelector('.poster');
    return poster && poster.complete && poster.naturalWidth > 0;
  });
  await nextFrames(page);
  result.poster = await page.evaluate(() => {
    const element = document.querySelector('immersive-product');
    const poster = element.shadowRoot.querySelector('.poster');
    return {
      src: poster.currentSrc,
      hidden: poster.hidden,
      opacity: getComputedStyle(poster).opacity,
      natural: [poster.naturalWidth, poster.naturalHeight],
      modelShown: Boolean(element.viewer?.model),
    };
  });
  result.heldModelRequests = [...heldModels];
  result.shots.poster = await shoot(page, path.join(artifacts, `product-${sku}-poster.png`));

  // 2. The model: released, loaded progressively, then shown and hidden with the camera frozen.
  openGate();
  await waitReady(page);
  result.marks = await page.evaluate(() => Object.fromEntries(
    ['immersive:poster', 'immersive:first-model-frame', 'immersive:lod0', 'immersive:lod1', 'immersive:lod2']
      .map((name) => [name, performance.getEntriesByName(name)[0]?.startTime ?? null]),
  ));
  await freeze(page);
  result.model = await modelScreenBox(page);
  result.shots.page = await shoot(page, path.join(artifacts, `product-${sku}.png`));
  // The pair compared pixel by pixel, without the hotspot labels (their translucent backgrounds show what
  // is behind them, so they would differ too).
  await setLayerVisible(page, '.hotspots-layer', false);
  result.shots.model = await shoot(page, path.join(work, `product-${sku}-model.png`));
  await setModelVisible(page, false);
  result.shots.background = await shoot(page, path.join(work, `product-${sku}-background.png`));
  await setModelVisible(page, true);
  await setLayerVisible(page, '.hotspots-layer', true);

  // 3a. Hotspots: where they are over the element; open the first one that faces the camera.
  result.hotspots = await page.evaluate(() => {
    const element = document.querySelector('immersive-product');
    const host = element.getBoundingClientRect();
    return [...element.shadowRoot.querySelectorAll('.hotspot')].map((spot) => {
      const dot = spot.querySelector('.hotspot-dot').getBoundingClientRect();
      return {
        id: spot.dataset.hotspot,
        label: spot.querySelector('.hotspot-label').textContent,
        hidden: spot.hidden,
        behind: spot.classList.contains('behind'),
        centre: [dot.left + dot.width / 2 - host.left, dot.top + dot.height / 2 - host.top],
      };
    });
  });
  const facing = result.hotspots.find((spot) => !spot.hidden && !spot.behind);
  if (facing) {
    // What a shopper's tap at the hotspot's dot reaches (before clicking: a covered dot would only time out).
    result.openedHotspot = { id: facing.id, hit: await hitAt(page, facing.centre) };
    if (result.openedHotspot.hit === 'hotspot-dot') {
      const spot = page.locator(`immersive-product .hotspot[data-hotspot="${facing.id}"]`);
      await spot.locator('.hotspot-dot').click({ timeout: 5000 });
      result.openedHotspot.expanded = await spot.getAttribute('aria-expanded');
      const text = spot.locator('.hotspot-text');
      result.openedHotspot.text = await text.isVisible() ? await text.textContent() : null;
      await spot.locator('.hotspot-dot').click({ timeout: 5000 }); // closed again for the screenshots below
    }
  }

  // 3b. Dimensions overlay, metric then imperial.
  const dimensionsButton = page.locator('immersive-product .bar .dims');
  result.dimensions = { offered: await dimensionsButton.isVisible() };
  if (result.dimensions.offered) {
    await dimensionsButton.click();
    await nextFrames(page);
    const labels = () => page.evaluate(() => {
      const element = document.querySelector('immersive-product');
      return Object.fromEntries([...element.shadowRoot.querySelectorAll('.dimension')]
        .map((label) => [label.dataset.axis, { text: label.textContent, visible: !label.hidden && label.offsetParent !== null }]));
    });
    result.dimensions.metric = await labels();
    result.shots.dimensions = await shoot(page, path.join(artifacts, `product-${sku}-dimensions.png`));
    await page.locator('immersive-product .bar .units').click();
    await nextFrames(page);
    result.dimensions.imperial = await labels();
    await dimensionsButton.click();
    await nextFrames(page);
  }

  // 3c. Variants: each one selected by its button, one screenshot each.
  result.variants = await page.evaluate(() => [...document.querySelector('immersive-product').shadowRoot
    .querySelectorAll('.variants:not([hidden]) .variant')].map((button) => button.dataset.variant));
  result.shots.variants = {};
  for (const name of result.variants) {
    const button = page.locator(`immersive-product .variant[data-variant="${name}"]`);
    await button.click();
    await page.waitForFunction((n) => document.querySelector('immersive-product').shadowRoot
      .querySelector(`.variant[data-variant="${n}"]`).getAttribute('aria-pressed') === 'true', name);
    await freeze(page);
    result.shots.variants[name] = await shoot(page, path.join(artifacts, `product-${sku}-variant-${name}.png`));
  }

  // 3d. A drag on the model turns the camera (OrbitControls get the pointer events).
  result.orbit = await dragTurnsCamera(page, result.model.box);

  // 4. Analytics.
  result.session = await flushAnalytics(page);
  return result;
}

/** The class of the element a pointer at (x, y) of the <immersive-product> box reaches, inside its shadow DOM. */
async function hitAt(page, [x, y]) {
  return page.evaluate(([px, py]) => {
    const element = document.querySelector('immersive-product');
    const host = element.getBoundingClientRect();
    const hit = element.shadowRoot.elementFromPoint(host.left + px, host.top + py);
    return hit ? (hit.className || hit.tagName.toLowerCase()) : null;
  }, [x, y]);
}

/**
 * Drags across the model with the mouse, from the point nearest the middle of its box that no hotspot covers;
 * returns what the pointer hit there and how far the camera moved.
 */
async function dragTurnsCamera(page, box) {
  const points = [];
  for (const fx of [0.5, 0.4, 0.6, 0.3, 0.7]) for (const fy of [0.5, 0.4, 0.6, 0.3, 0.7]) {
    points.push([box[0] + fx * (box[2] - box[0]), box[1] + fy * (box[3] - box[1])]);
  }
  let centre = points[0];
  let hit = await hitAt(page, centre);
  for (const point of points.slice(1)) {
    if (hit === 'canvas') break;
    centre = point;
    hit = await hitAt(page, point);
  }
  const cameraPosition = () => page.evaluate(() => document.querySelector('immersive-product').viewer.camera.position.toArray());
  const distance = await page.evaluate(() => {
    const viewer = document.querySelector('immersive-product').viewer;
    return viewer.camera.position.distanceTo(viewer.controls.target);
  });
  const before = await cameraPosition();
  const host = await page.locator('immersive-product').boundingBox();
  await page.mouse.move(host.x + centre[0], host.y + centre[1]);
  await page.mouse.down();
  await page.mouse.move(host.x + centre[0] + 120, host.y + centre[1], { steps: 6 });
  await page.mouse.up();
  await nextFrames(page);
  const after = await cameraPosition();
  return { hit, distance, moved: Math.hypot(...after.map((v, i) => v - before[i])) };
}
