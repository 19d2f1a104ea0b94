// Progressive geometry: the coarsest LOD is fetched first and shown as soon as it arrives, then the
// full-detail model replaces it (LOD2 -> LOD0, as the pipeline's bundle lists them). Intermediate LODs are
// skipped: on a slow link, their bytes would delay the full model.
import { modelFiles } from '../api.js';

/**
 * Loads the product's model progressively into the viewer.
 * @returns {Promise<void>} resolves when the full-detail model is shown; rejects if no LOD could be loaded
 */
export async function loadProgressive(viewer, product, { analytics = viewer.analytics } = {}) {
  const files = modelFiles(product);
  if (!files.length) throw new Error('this product has no 3D model yet');
  const finest = files[0];
  const coarsest = files[files.length - 1];
  const order = coarsest === finest ? [finest] : [coarsest, finest];
  const started = performance.now();
  // Both requests start at once (the coarse one first); the fine one is shown when it is ready.
  const pending = order.map((file) => viewer.fetchModel(file.url).then((result) => ({ file, ...result })));
  let shownLevel = Infinity;
  let failure = null;
  for (const promise of pending) {
    try {
      const { file, gltf, ms } = await promise;
      if (file.level < shownLevel) {
        shownLevel = file.level;
        viewer.showModel(gltf, file.level);
        performance.mark(`immersive:lod${file.level}`);
        analytics?.emit('lod_loaded', { level: file.level, ms: Math.round(ms), bytes: file.bytes ?? null });
      }
    } catch (error) {
      failure = error;
    }
  }
  if (shownLevel !== finest.level) {
    throw failure || new Error('the full-detail model could not be loaded');
  }
  return { ms: performance.now() - started };
}
