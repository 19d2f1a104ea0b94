// The pre-baked studio light against the one three.js makes at run time, on product pages (one Chromium):
//   1. the page as shipped (the viewer loads web_viewer/assets/studio-environment.pmrem.gz): which
//      environment texture it uses, whether any RoomEnvironment/PMREM code was fetched, screenshots with
//      the model and with the model hidden (the background, for the model's pixel mask);
//   2. the same frame lit by PMREMGenerator.fromScene(new RoomEnvironment(), 0.04) made now in the page,
//      with the viewer's renderer, as the viewer did before the light was baked (screenshot);
//   3. the same frame without any environment (screenshot): the comparison must be able to see the light.
// args: {base, merchant, skus, artifacts, work}. Returns {sku: {shots, environment, requests}}.
import path from 'node:path';

import { freeze, nextFrames, setLayerVisible, setModelVisible, shoot, waitReady } from './viewer_page.mjs';

const VIEWPORT = { width: 900, height: 700 };
const SIGMA = 0.04; // the blur the viewer's room always had (web_viewer/tools/bake-environment.mjs)

export default async function environment(ctx, { base, merchant, skus, artifacts, work }) {
  const results = {};
  for (const sku of skus) {
    const page = await ctx.newPage({ viewport: VIEWPORT }, sku);
    try {
      await page.goto(`${base}/p/${encodeURIComponent(merchant)}/${encodeURIComponent(sku)}`);
      await waitReady(page);
      await freeze(page);
      // freeze() leaves the damping's last, sub-threshold steps running: on a 4 cm watch they move the
      // picture by a pixel between screenshots. Without damping the camera stays exactly at the framing.
      await page.evaluate(() => {
        const viewer = document.querySelector('immersive-product').viewer;
        viewer.controls.enableDamping = false;
        viewer.camera.position.copy(viewer.home.position);
        viewer.controls.target.copy(viewer.home.target);
        viewer.controls.update();
        viewer.needsRender = true;
      });
      await nextFrames(page);
      await setLayerVisible(page, '.hotspots-layer', false);
      const result = { shots: {} };
      result.environment = await page.evaluate(() => {
        const texture = document.querySelector('immersive-product').viewer.scene.environment;
        return {
          name: texture.name,
          isPMREMTexture: texture.isPMREMTexture,
          isCompressedCubeTexture: Boolean(texture.isCompressedCubeTexture),
          levels: texture.image[0].mipmaps.map((mip) => mip.width),
        };
      });
      result.requests = await page.evaluate(() => performance.getEntriesByType('resource')
        .map((entry) => new URL(entry.name).pathname)
        .filter((name) => /RoomEnvironment|PMREM|studio-environment/.test(name)));
      result.contentType = await page.evaluate(async (url) => (await fetch(url)).headers.get('content-type'),
        `${base}/viewer/assets/studio-environment.pmrem.gz`);
      result.shots.baked = await shoot(page, path.join(artifacts, `environment-${sku}-baked.png`));
      await setModelVisible(page, false);
      result.shots.background = await shoot(page, path.join(work, `environment-${sku}-background.png`));
      await setModelVisible(page, true);

      await page.evaluate(async (sigma) => {
        const THREE = await import('three');
        const { RoomEnvironment } = await import('three/addons/environments/RoomEnvironment.js');
        const viewer = document.querySelector('immersive-product').viewer;
        const pmrem = new THREE.PMREMGenerator(viewer.renderer);
        viewer.scene.environment = pmrem.fromScene(new RoomEnvironment(), sigma).texture;
        pmrem.dispose();
        viewer.needsRender = true;
      }, SIGMA);
      await nextFrames(page);
      result.shots.runtime = await shoot(page, path.join(artifacts, `environment-${sku}-runtime.png`));

      // The baked light again: the noise floor of two screenshots of the same frame.
      await page.evaluate(() => {
        const viewer = document.querySelector('immersive-product').viewer;
        viewer.scene.environment = viewer.environment;
        viewer.needsRender = true;
      });
      await nextFrames(page);
      result.shots.bakedAgain = await shoot(page, path.join(work, `environment-${sku}-baked-again.png`));

      await page.evaluate(() => {
        const viewer = document.querySelector('immersive-product').viewer;
        viewer.scene.environment = null;
        viewer.needsRender = true;
      });
      await nextFrames(page);
      result.shots.unlit = await shoot(page, path.join(work, `environment-${sku}-unlit.png`));
      results[sku] = result;
    } catch (error) {
      results[sku] = { error: error.stack || String(error) };
    } finally {
      await page.context().close();
    }
  }
  return results;
}
