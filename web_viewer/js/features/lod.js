// Progressive geometry: the coarsest LOD is shown as soon as it arrives, then the full-detail model
// replaces it (LOD2 -> LOD0, as the pipeline's bundle lists them). Intermediate LODs are skipped: on a slow
// link, their bytes would delay the full model.
//
// No three.js here: the element calls prefetchModels() while three.js itself is still loading, so the
// model's bytes and the viewer's code arrive in parallel.
import { modelFiles } from '../api.js';

/** The LODs to load, coarsest first: [{level, url, bytes, triangles}]. */
function loadOrder(product) {
  const files = modelFiles(product);
  if (!files.length) throw new Error('this product has no 3D model yet');
  const finest = files[0];
  const coarsest = files[files.length - 1];
  return coarsest === finest ? [finest] : [coarsest, finest];
}

/** Starts downloading the LODs that will be shown: {url: Promise<ArrayBuffer>}. */
export function prefetchModels(product) {
  const downloads = {};
  for (const file of loadOrder(product)) {
    downloads[file.url] = fetch(file.url).then((response) => {
      if (!response.ok) throw new Error(`model ${file.url}: HTTP ${response.status}`);
      return response.arrayBuffer();
    });
    downloads[file.url].catch(() => { /* reported when the LOD is awaited */ });
  }
  return downloads;
}

/**
 * Loads the product's model progressively into the viewer.
 * @param {object} [options.downloads] what prefetchModels() returned (default: download now)
 * @returns {Promise<{ms: number}>} resolves when the full-detail model is shown; rejects if it could not be
 */
export async function loadProgressive(viewer, product, { analytics = viewer.analytics, downloads = prefetchModels(product) } = {}) {
  const order = loadOrder(product);
  const finest = order[order.length - 1];
  const started = performance.now();
  // Both are decoded as their bytes arrive; a finer model is never replaced by a coarser one.
  const pending = order.map((file) => viewer.parseModel(downloads[file.url], file.url).then((result) => ({ file, ...result })));
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
