// The only module that knows the service's URLs. Every other module asks here.
//
// `base` is the service's origin plus any path prefix, without a trailing slash, e.g.
// "https://3d.shop.example". The viewer's own files live under {base}/viewer/, three.js and its
// decoders under {base}/viewer/vendor/three/ (served from npm's copy by the service: no CDN).

/** The service base that served this module: {base}/viewer/js/api.js -> {base}. */
export const scriptBase = new URL('../..', import.meta.url).href.replace(/\/$/, '');

export function normalizeBase(base) {
  return (base || scriptBase).replace(/\/$/, '');
}

const enc = encodeURIComponent;

export function productUrl(base, merchant, sku) {
  return `${normalizeBase(base)}/api/v1/public/products/${enc(merchant)}/${enc(sku)}`;
}

export function productPageUrl(base, merchant, sku) {
  return `${normalizeBase(base)}/p/${enc(merchant)}/${enc(sku)}`;
}

export function eventsUrl(base) {
  return `${normalizeBase(base)}/api/v1/events`;
}

/** The try-on page; mode "device" (the landmarker runs in the browser) or "kiosk" (frames go to the stream). */
export function tryonPageUrl(base, merchant, sku, mode = 'device') {
  return `${normalizeBase(base)}/tryon/${enc(merchant)}/${enc(sku)}?mode=${enc(mode)}`;
}

/** The kiosk stream's WebSocket (ws: or wss: after the service's scheme). */
export function tryonStreamUrl(base, merchant, sku, variant = null) {
  const url = new URL(`${normalizeBase(base)}/api/v1/tryon/stream`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = new URLSearchParams({ merchant, sku, ...(variant ? { variant } : {}) }).toString();
  return url.href;
}

/** Fit constants, try-on spec and the model files' URLs (on-device try-on). */
export function tryonParametersUrl(base) {
  return `${normalizeBase(base)}/api/v1/tryon/parameters`;
}

/** The head-and-neck occluder GLB. */
export function headOccluderUrl(base) {
  return `${normalizeBase(base)}/api/v1/tryon/occluders/head.glb`;
}

/** MediaPipe Tasks Vision's ES module and its wasm folder (FilesetResolver.forVisionTasks). */
export function tasksVisionPaths(base) {
  const root = `${normalizeBase(base)}/viewer/vendor/tasks-vision`;
  return { module: `${root}/vision_bundle.mjs`, wasm: `${root}/wasm` };
}

/** The viewer's pre-baked studio light (js/studio-light.js reads it; web_viewer/tools/bake-environment.mjs makes it). */
export function studioLightUrl(base) {
  return `${normalizeBase(base)}/viewer/assets/studio-environment.pmrem.gz`;
}

/** Folders DRACOLoader.setDecoderPath / KTX2Loader.setTranscoderPath load their wasm from. */
export function decoderPaths(base) {
  const libs = `${normalizeBase(base)}/viewer/vendor/three/examples/jsm/libs`;
  return { draco: `${libs}/draco/`, basis: `${libs}/basis/` };
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** The public product JSON (PublicProductOut), or ApiError with the service's reason. */
export async function fetchProduct(base, merchant, sku, { signal } = {}) {
  const response = await fetch(productUrl(base, merchant, sku), { signal, headers: { accept: 'application/json' } });
  if (!response.ok) {
    let body = {};
    try { body = await response.json(); } catch { /* not JSON: keep the status */ }
    throw new ApiError(response.status, body.error, body.detail);
  }
  return response.json();
}

/** Model files of the product's current asset, finest first: [{level, url, bytes, triangles}]. */
export function modelFiles(product) {
  const asset = product.asset;
  if (!asset) return [];
  const lods = (asset.lods || [])
    .filter((lod) => asset.files[lod.file])
    .map((lod) => ({ level: lod.level, url: asset.files[lod.file].url, bytes: lod.bytes, triangles: lod.triangles }));
  if (!lods.length && asset.model_url) lods.push({ level: 0, url: asset.model_url, bytes: null, triangles: null });
  return lods.sort((a, b) => a.level - b.level);
}
