// The try-on page /tryon/{merchant}/{sku}?mode=device|kiosk: the camera video with the product drawn over it.
//   mode=device (default): the Face Landmarker runs in this browser (js/features/tryon.js DeviceTracking);
//                          no frame leaves the device.
//   mode=kiosk:            frames go to the service's stream WebSocket, which answers with the transforms.
// Both give the same per-frame result (transforms, occluder, projection, measurements), drawn by TryOnView.
// Test hook: window.__immersive.tryon = {mode, view, tracking, last, started}.
import { eventsUrl, headOccluderUrl, modelFiles, scriptBase, tryonParametersUrl } from '../js/api.js';
import { Analytics } from '../js/features/analytics.js';
import { DeviceTracking, KioskStreamClient, TryOnView } from '../js/features/tryon.js';

const MEASUREMENT_WINDOW = 30; // frames: the numbers shown are medians, steadier than one frame's
const PRIVACY = {
  device: 'Your camera image is processed on this device only: no picture, face landmark or measurement leaves it or is stored.',
  kiosk: 'The camera image is sent to this store\'s try-on service, processed in memory and discarded at once: no picture, '
    + 'face landmark or measurement is stored.',
};
const ADVICE = {
  narrow: 'this frame is narrower than your face',
  medium: 'this frame suits your face width',
  wide: 'this frame is wider than your face',
};

const product = JSON.parse(document.getElementById('product-data').textContent);
const base = scriptBase;
const mode = new URLSearchParams(location.search).get('mode') === 'kiosk' ? 'kiosk' : 'device';
const $ = (id) => document.getElementById(id);
const analytics = new Analytics({ endpoint: eventsUrl(base), merchant: product.merchant, sku: product.sku });
const state = { mode, view: null, tracking: null, last: null, started: null };
window.__immersive = window.__immersive || { viewers: [] };
window.__immersive.tryon = state;

$(`mode-${mode}`).setAttribute('aria-current', 'page');
$('privacy').textContent = PRIVACY[mode];
const status = (text) => { $('status').textContent = text; };
const history = { pd: [], face_width: [] };

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function showMeasurements(measurements) {
  if (!measurements) return;
  $('measurements').hidden = false;
  for (const name of ['pd', 'face_width']) {
    history[name].push(measurements[name]);
    if (history[name].length > MEASUREMENT_WINDOW) history[name].shift();
  }
  const text = (name) => {
    const mm = median(history[name].map((m) => m.mm));
    const sd = median(history[name].map((m) => m.sd_mm));
    return `${mm.toFixed(1)} mm ± ${sd.toFixed(1)}`;
  };
  $('pd').textContent = text('pd');
  $('face-width').textContent = text('face_width');
  const advice = measurements.frame_size;
  for (const element of document.querySelectorAll('.frame-size')) element.hidden = !advice;
  if (advice) {
    $('frame-size').textContent = `${advice.size}: ${ADVICE[advice.size]} (frame ${advice.frame_width_mm.toFixed(0)} mm)`;
    $('frame-size').dataset.size = advice.size;
  }
}

function onFrame(result) {
  state.last = result;
  state.view.update(result);
  if (result.sku !== product.sku) return;
  status(result.face || result.hand ? '' : 'Look at the camera');
  showMeasurements(result.measurements);
}

async function startCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
    audio: false,
  });
  video.srcObject = stream;
  await video.play();
  $('stage').style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  $('stage').classList.add('mirrored');
  return stream;
}

function drawVariants(names) {
  const container = $('variants');
  container.replaceChildren();
  container.hidden = names.length < 2;
  for (const name of names) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = name;
    button.dataset.variant = name;
    button.setAttribute('aria-pressed', 'false');
    button.addEventListener('click', async () => {
      await state.view.selectVariant(name);
      for (const other of container.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
      analytics.emit('variant_switched', { variant: name, from: null });
    });
    container.appendChild(button);
  }
}

async function start() {
  $('start').hidden = true;
  const files = modelFiles(product);
  if (!files.length) throw new Error(`${product.name} has no 3D model yet`);
  if (mode === 'device' && !DeviceTracking.supports(product.category)) {
    throw new Error(`${product.name} (${product.category}) can be tried on at a store kiosk or with a photo, not on this device`);
  }
  status('Starting the camera…');
  const video = $('video');
  state.camera = await startCamera(video);
  const view = new TryOnView($('overlay'), { base });
  state.view = view;
  status('Loading the product…');
  const [names] = await Promise.all([view.loadProduct(files[0].url), view.loadOccluder(headOccluderUrl(base))]);
  drawVariants(names);
  status('Loading face tracking…');
  const frameWidth = product.asset.anchor?.sizes_m?.frame_width_m;
  if (mode === 'device') {
    const response = await fetch(tryonParametersUrl(base));
    if (!response.ok) throw new Error(`try-on parameters: HTTP ${response.status}`);
    const parameters = await response.json();
    state.tracking = new DeviceTracking({
      base,
      product: {
        sku: product.sku,
        category: product.category,
        frameWidthMm: ['glasses', 'sunglasses'].includes(product.category) && frameWidth ? frameWidth * 1000 : null,
      },
      params: parameters.fit,
      modelUrl: parameters.models['face_landmarker.task'].url,
    });
  } else {
    state.tracking = new KioskStreamClient({ base, merchant: product.merchant, sku: product.sku });
    state.tracking.addEventListener('close', (event) => {
      if (event.detail.code !== 1000) status(`The try-on stream stopped: ${event.detail.reason || event.detail.code}`);
    });
  }
  state.tracking.addEventListener('frame', (event) => onFrame(event.detail));
  await state.tracking.start(video);
  state.started = performance.now();
  status('Look at the camera');
  $('stop').hidden = false;
  analytics.emit('tryon_started', { mode, category: product.category });
}

function end({ beacon = false } = {}) {
  if (!state.started) return;
  const tracking = state.tracking;
  tracking.stop();
  for (const track of state.camera.getTracks()) track.stop();
  analytics.emit('tryon_ended', {
    mode,
    category: product.category,
    duration_ms: Math.round(performance.now() - state.started),
    frames: tracking.frames,
    frames_with_face: tracking.framesWithFace,
  });
  state.started = null;
  $('stop').hidden = true;
  $('start').hidden = false;
  status('');
  return analytics.flush({ beacon });
}

$('start').addEventListener('click', () => start().catch((error) => {
  console.warn('try-on could not start:', error);
  status(error.name === 'NotAllowedError' ? 'Camera access is needed to try this on' : error.message);
  $('start').hidden = false;
}));
$('stop').addEventListener('click', () => end());
// Leaving the page ends the try-on; its event goes by beacon (a fetch would be cancelled with the page).
addEventListener('pagehide', () => end({ beacon: true }));
state.end = end;
