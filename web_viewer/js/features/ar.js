// WebXR `immersive-ar` on phones (Android Chrome / ARCore): the product at its TRUE SCALE in the room.
//
// API (element.js uses it):
//   await WebXRAR.isSupported()       -> true when navigator.xr offers immersive-ar (no permission prompt).
//   const ar = new WebXRAR(viewer, {analytics})   viewer: the ProductViewer (.renderer, .scene, .model,
//                                        .product); analytics: {emit(type, props)}, default viewer.analytics.
//   await ar.start(overlayElement)     starts the session (from a user gesture: the AR button's click).
//                                        overlayElement: the DOM overlay root, the caller's UI (name, price,
//                                        add-to-cart, exit); WebXRAR adds a transparent full-screen gesture
//                                        layer under that UI (drag = turn) while the session runs. Without it
//                                        no DOM overlay is requested (taps still place, nothing turns).
//                                        Resolves once the session runs; on failure emits `ar_failed` {reason}
//                                        and rejects with an Error whose `.reason` is that reason.
//   ar.end()                           ends the session.
//   events (EventTarget): 'start'; 'status' (detail {state: searching | ready | placed | no_surface, text}:
//                                        guidance for the shopper, to show in the overlay); 'placed' (detail
//                                        {surface: horizontal | vertical, first}); 'end'.
//   test hook: window.__immersive.xr is the running WebXRAR; its fields: session, placed, surface, content
//   (the placed Object3D), model (the product as placed), referenceSpaceType, frames.
//
// What the shopper does: a reticle shows where the phone's centre ray meets a suitable surface (floors and
// table tops for floor/table products, walls facing the user for wall products); a tap places the product
// there, front (+Z) towards the user, at its real size (the scale is locked: no pinch-zoom); a later tap
// moves it to the reticle; a horizontal drag turns it about the vertical (wall products: about the wall's
// normal). Analytics: ar_started, ar_placed {surface, time_to_place_ms}, ar_failed {reason: unsupported |
// permission | hit_test | no_surface | error}, ar_ended {duration_ms, placed, moves, turned}. (The element
// emits ar_offered when it shows the button.)
import * as THREE from 'three';
import { XREstimatedLight } from 'three/addons/webxr/XREstimatedLight.js';

import { ContactShadow } from '../contact-shadow.js';

// A hit counts as horizontal when its normal is within ~20° of up, as vertical within ~20° of the horizon.
const HORIZONTAL_MIN_UP = Math.cos(THREE.MathUtils.degToRad(20));
const VERTICAL_MAX_UP = Math.sin(THREE.MathUtils.degToRad(20));
// No suitable surface in this long after the start: report it (once) and tell the shopper what to do.
const NO_SURFACE_AFTER_MS = 15000;
// A touch that moves less than this is a tap (place / move), more is a drag (turn).
const DRAG_THRESHOLD_PX = 12;
// The select ending a drag arrives within this long of its pointerup.
const DRAG_SELECT_GRACE_MS = 300;
// A drag across the whole screen width turns the product by this much.
const TURN_PER_SCREEN = 1.5 * Math.PI;

const UP = new THREE.Vector3(0, 1, 0);
// The reticle's ring lies in its XZ plane; on a wall it is turned to lie in the wall (XY) plane.
const RING_ON_WALL = new THREE.Quaternion().setFromAxisAngle(new THREE.Vector3(1, 0, 0), Math.PI / 2);

export class WebXRAR extends EventTarget {
  static async isSupported() {
    if (!window.isSecureContext || !navigator.xr?.isSessionSupported) return false;
    try {
      return await navigator.xr.isSessionSupported('immersive-ar');
    } catch {
      return false; // blocked by a permissions policy (e.g. an iframe without allow="xr-spatial-tracking")
    }
  }

  constructor(viewer, { analytics = viewer.analytics } = {}) {
    super();
    this.viewer = viewer;
    this.analytics = analytics;
    this.session = null;
    this.placed = false;
  }

  #emit(type, props = {}) {
    this.analytics?.emit(type, { placement: this.viewer.product?.placement ?? null, ...props });
  }

  async start(overlayElement = null) {
    if (this.session) throw new Error('an AR session is already running');
    const viewer = this.viewer;
    if (!viewer.model) throw new Error('the model is not loaded yet');
    if (!(await WebXRAR.isSupported())) throw this.#failed('unsupported', 'this browser has no WebXR immersive-ar');

    // The placement hint (asset_pipeline/categories.py) says where the product goes: walls for wall
    // products, horizontal surfaces (floor, table top) for everything else.
    this.surface = viewer.product?.placement === 'wall' ? 'vertical' : 'horizontal';
    this.placed = false;
    this.moves = 0;
    this.turned = false;
    this.status = null;
    this.noSurfaceReported = false;
    this.dragFrom = null;
    this.dragEndedAt = null;
    this.#buildScene();
    const options = { requiredFeatures: ['hit-test'], optionalFeatures: ['local-floor', 'light-estimation'] };
    if (overlayElement) {
      this.#addGestureLayer(overlayElement);
      options.optionalFeatures.push('dom-overlay');
      options.domOverlay = { root: overlayElement };
    }
    let session;
    try {
      session = await navigator.xr.requestSession('immersive-ar', options);
    } catch (err) {
      this.#teardown();
      const reason = err?.name === 'NotSupportedError' ? 'unsupported'
        : err?.name === 'SecurityError' || err?.name === 'NotAllowedError' ? 'permission' : 'error';
      throw this.#failed(reason, err?.message || String(err));
    }
    this.session = session;
    this.startedAt = performance.now();
    try {
      await this.#connect(session);
    } catch (err) {
      const failure = this.#failed(err.reason || 'error', err.message);
      await session.end().catch(() => {}); // rejects once the session is over: the caller sees a clean state
      throw failure;
    }
    this.running = true;
    (window.__immersive ||= { viewers: [] }).xr = this;
    this.#emit('ar_started', {
      dom_overlay: Boolean(session.domOverlayState),
      reference_space: this.referenceSpaceType,
    });
    this.dispatchEvent(new Event('start'));
  }

  end() {
    return this.session?.end();
  }

  #failed(reason, detail) {
    this.#emit('ar_failed', { reason, detail: String(detail).slice(0, 200) });
    return Object.assign(new Error(`AR: ${reason}: ${detail}`), { reason });
  }

  // --- scene -------------------------------------------------------------------------------------------

  // AR draws its own small scene (the product, its contact shadow and the reticle) with its own camera:
  // three.js writes the XR pose into whatever camera renders, which would move the viewer's orbit camera.
  #buildScene() {
    const viewer = this.viewer;
    this.scene = new THREE.Scene();
    this.scene.environment = viewer.scene.environment;
    this.camera = new THREE.PerspectiveCamera(50, 1, 0.02, 100); // near/far become the XR depth range

    // content (where it stands: position + upright orientation) > turn (the shopper's rotation about the
    // surface normal: local Y on a floor, local Z on a wall) > pivot (puts the product's contact point at
    // the origin) > the product.
    this.content = new THREE.Group();
    this.content.name = 'ar-content';
    this.content.visible = false;
    this.turn = new THREE.Group();
    this.pivot = new THREE.Group();
    this.content.add(this.turn);
    this.turn.add(this.pivot);
    this.scene.add(this.content);
    this.#showModel(viewer.model);
    this.onViewerModel = () => this.#showModel(viewer.model);
    viewer.addEventListener('model', this.onViewerModel);

    this.reticle = makeReticle();
    this.reticle.visible = false;
    this.scene.add(this.reticle);

    this.estimatedLight = new XREstimatedLight(viewer.renderer);
    this.estimatedLight.addEventListener('estimationstart', () => {
      this.scene.add(this.estimatedLight);
      if (this.estimatedLight.environment) this.scene.environment = this.estimatedLight.environment;
    });
    this.estimatedLight.addEventListener('estimationend', () => {
      this.scene.remove(this.estimatedLight);
      this.scene.environment = viewer.scene.environment;
    });
  }

  // The product as placed: a copy of the viewer's model (geometry and materials shared, so the variant
  // shown is the one chosen), replaced when the viewer swaps in a finer LOD.
  #showModel(source) {
    if (this.model) this.pivot.remove(this.model);
    const model = source.clone(true);
    // The contact point, measured (in the model's own frame: before it has a parent) rather than assumed:
    // bottom centre on a floor or table, back centre on a wall (with the product's middle at the reticle).
    const box = new THREE.Box3().setFromObject(model, true);
    this.model = model;
    this.pivot.add(model);
    const centre = box.getCenter(new THREE.Vector3());
    this.pivot.position.set(
      -centre.x,
      this.surface === 'vertical' ? -centre.y : -box.min.y,
      this.surface === 'vertical' ? -box.min.z : -centre.z,
    );
    if (this.surface === 'horizontal') this.#updateShadow();
  }

  // The viewer's soft contact shadow, rendered once per model in the product's own frame (it then moves and
  // turns with it): drawn in a scratch scene holding a copy of the pivot, then hung under `turn`.
  #updateShadow() {
    this.shadow ||= new ContactShadow();
    this.turn.add(this.shadow.updateDetached(this.viewer.renderer, this.model, this.pivot.position));
  }

  // --- session -----------------------------------------------------------------------------------------

  async #connect(session) {
    const renderer = this.viewer.renderer;
    // local-floor when the device knows the floor (the test runtime, headsets), else local (phones).
    this.referenceSpaceType = await session.requestReferenceSpace('local-floor').then(() => 'local-floor', () => 'local');
    this.xrWasEnabled = renderer.xr.enabled;
    renderer.xr.enabled = true;
    renderer.xr.setReferenceSpaceType(this.referenceSpaceType);
    // three.js' own end handling (presenting off, canvas size back) runs first, then ours.
    this.onSessionEnd = () => this.#onEnd();
    renderer.xr.addEventListener('sessionend', this.onSessionEnd);
    await renderer.xr.setSession(session);
    this.referenceSpace = renderer.xr.getReferenceSpace();
    const viewerSpace = await session.requestReferenceSpace('viewer');
    try {
      this.hitTestSource = await session.requestHitTestSource({ space: viewerSpace });
    } catch (err) {
      throw Object.assign(new Error(err?.message || String(err)), { reason: 'hit_test' });
    }
    session.addEventListener('select', () => this.#onSelect());
    this.frames = 0;
    const onFrame = (time, frame) => {
      if (!this.session) return;
      session.requestAnimationFrame(onFrame);
      this.#onFrame(frame);
    };
    session.requestAnimationFrame(onFrame);
  }

  // Runs after three.js' own XR frame callback (registered first), which has set the XR framebuffer and
  // the view poses; the viewer's loop does not draw while presenting.
  #onFrame(frame) {
    const hit = this.#surfaceHit(frame);
    this.lastHit = hit;
    this.reticle.visible = Boolean(hit);
    if (hit) this.reticle.matrix.compose(hit.position, hit.reticleOrientation, this.reticle.scale);
    if (this.placed) {
      this.#setStatus('placed');
    } else if (hit) {
      this.#setStatus('ready');
    } else if (performance.now() - this.startedAt > NO_SURFACE_AFTER_MS) {
      if (!this.noSurfaceReported) this.#emit('ar_failed', { reason: 'no_surface', detail: `no ${this.#surfaceWord()} found` });
      this.noSurfaceReported = true;
      this.#setStatus('no_surface');
    } else {
      this.#setStatus('searching');
    }
    this.viewer.renderer.render(this.scene, this.camera);
    this.frames += 1;
  }

  #surfaceWord() {
    return this.surface === 'vertical' ? 'wall' : this.viewer.product?.placement === 'table' ? 'table or floor' : 'floor';
  }

  #setStatus(state) {
    if (this.status === state) return;
    this.status = state;
    const surface = this.#surfaceWord();
    const text = {
      searching: `Point your phone at the ${surface}`,
      ready: 'Tap to place',
      placed: 'Drag to turn · tap to move',
      no_surface: `No ${surface} found yet: move your phone slowly over it, in good light`,
    }[state];
    this.dispatchEvent(new CustomEvent('status', { detail: { state, text } }));
  }

  // The nearest hit on a surface of the wanted kind, as {position, orientation, reticleOrientation}:
  // orientation puts the product upright with its front (+Z) towards the user (floor), or its back against
  // the wall (+Z along the wall's normal); reticleOrientation lays the reticle's ring flat on the surface.
  #surfaceHit(frame) {
    const viewerPose = frame.getViewerPose(this.referenceSpace);
    if (!viewerPose) return null;
    const eye = new THREE.Vector3().copy(viewerPose.transform.position);
    for (const result of frame.getHitTestResults(this.hitTestSource)) {
      const pose = result.getPose(this.referenceSpace);
      if (!pose) continue;
      const matrix = new THREE.Matrix4().fromArray(pose.transform.matrix);
      const position = new THREE.Vector3().setFromMatrixPosition(matrix);
      const normal = new THREE.Vector3().setFromMatrixColumn(matrix, 1).normalize(); // hit poses: +Y = normal
      const forward = new THREE.Vector3();
      if (this.surface === 'horizontal') {
        if (normal.y < HORIZONTAL_MIN_UP) continue;
        forward.subVectors(eye, position).setY(0);
        if (forward.lengthSq() < 1e-6) forward.set(0, 0, 1); // looking straight down: keep the world's +Z
      } else {
        if (Math.abs(normal.y) > VERTICAL_MAX_UP) continue;
        forward.copy(normal).setY(0);
        if (forward.dot(new THREE.Vector3().subVectors(eye, position)) <= 0) continue; // the wall's far side
      }
      forward.normalize();
      const right = new THREE.Vector3().crossVectors(UP, forward);
      const orientation = new THREE.Quaternion().setFromRotationMatrix(new THREE.Matrix4().makeBasis(right, UP, forward));
      const reticleOrientation = this.surface === 'vertical' ? orientation.clone().multiply(RING_ON_WALL) : orientation;
      return { position, orientation, reticleOrientation };
    }
    return null;
  }

  // The XR select of a touch comes at its end, around its pointerup (in either order): a touch that
  // dragged (still down, or just lifted) turned the product and is not a tap.
  #isDragging() {
    return Boolean(this.dragFrom?.dragged) || performance.now() - (this.dragEndedAt ?? -Infinity) < DRAG_SELECT_GRACE_MS;
  }

  #onSelect() {
    if (this.#isDragging() || !this.lastHit) return; // the end of a turning drag, or no surface under the reticle
    const first = !this.placed;
    this.content.position.copy(this.lastHit.position);
    // Placing faces the product to the shopper; moving it on the floor keeps the way they turned it (on a
    // wall it takes the new wall's orientation).
    if (first || this.surface === 'vertical') this.content.quaternion.copy(this.lastHit.orientation);
    this.content.visible = true;
    this.placed = true;
    if (first) {
      this.#emit('ar_placed', {
        surface: this.surface,
        time_to_place_ms: Math.round(performance.now() - this.startedAt),
      });
    } else {
      this.moves += 1;
    }
    this.dispatchEvent(new CustomEvent('placed', { detail: { surface: this.surface, first } }));
  }

  // --- DOM overlay -------------------------------------------------------------------------------------

  // A transparent full-screen layer under the caller's overlay UI that turns a drag into a turn of the
  // product. Taps on the UI's buttons and links are kept from also placing/moving the product.
  #addGestureLayer(overlay) {
    const layer = document.createElement('div');
    layer.dataset.arGestures = '';
    layer.style.cssText = 'position:absolute;inset:0;pointer-events:auto;touch-action:none;';
    layer.addEventListener('pointerdown', (event) => {
      this.dragFrom = { x: event.clientX, y: event.clientY, last: event.clientX, dragged: false };
    });
    layer.addEventListener('pointermove', (event) => this.#onDrag(event));
    const onUp = () => {
      if (this.dragFrom?.dragged) this.dragEndedAt = performance.now();
      this.dragFrom = null;
    };
    layer.addEventListener('pointerup', onUp);
    layer.addEventListener('pointercancel', onUp);
    this.onBeforeSelect = (event) => {
      if (event.target !== layer) event.preventDefault();
    };
    overlay.addEventListener('beforexrselect', this.onBeforeSelect);
    overlay.prepend(layer);
    this.gestureLayer = layer;
    this.overlay = overlay;
  }

  #onDrag(event) {
    const from = this.dragFrom;
    if (!from) return;
    if (!from.dragged && Math.hypot(event.clientX - from.x, event.clientY - from.y) > DRAG_THRESHOLD_PX) from.dragged = true;
    if (!from.dragged || !this.placed) return;
    this.rotateBy(((event.clientX - from.last) / Math.max(window.innerWidth, 1)) * TURN_PER_SCREEN);
    from.last = event.clientX;
  }

  /** Turns the placed product by `radians` about the surface normal (vertical, or the wall's normal). */
  rotateBy(radians) {
    if (this.surface === 'vertical') this.turn.rotation.z += radians;
    else this.turn.rotation.y += radians;
    this.turned = true;
  }

  // --- end ---------------------------------------------------------------------------------------------

  #onEnd() {
    if (this.running) {
      this.#emit('ar_ended', {
        duration_ms: Math.round(performance.now() - this.startedAt),
        placed: this.placed,
        moves: this.moves,
        turned: this.turned,
      });
    }
    this.running = false;
    this.hitTestSource?.cancel();
    this.hitTestSource = null;
    this.session = null;
    const renderer = this.viewer.renderer;
    renderer.xr.removeEventListener('sessionend', this.onSessionEnd);
    renderer.xr.enabled = this.xrWasEnabled;
    this.#teardown();
    if (window.__immersive?.xr === this) window.__immersive.xr = null;
    this.viewer.resize();
    this.viewer.needsRender = true;
    this.dispatchEvent(new Event('end'));
  }

  #teardown() {
    this.viewer.removeEventListener('model', this.onViewerModel);
    this.estimatedLight?.dispose();
    this.shadow?.dispose();
    this.shadow = null;
    this.reticle?.geometry.dispose();
    this.reticle?.material.dispose();
    this.gestureLayer?.remove();
    this.overlay?.removeEventListener('beforexrselect', this.onBeforeSelect);
    this.gestureLayer = null;
    this.overlay = null;
  }
}

function makeReticle() {
  // A flat ring lying on the surface (its local XZ plane; hit orientations put +Y along the normal).
  const ring = new THREE.RingGeometry(0.07, 0.09, 48).rotateX(-Math.PI / 2);
  const reticle = new THREE.Mesh(ring, new THREE.MeshBasicMaterial({ color: 0xffffff, transparent: true, opacity: 0.9 }));
  reticle.matrixAutoUpdate = false;
  reticle.name = 'ar-reticle';
  return reticle;
}
