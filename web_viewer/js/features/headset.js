// Headsets (Meta Quest browser and other WebXR headsets): the product at its TRUE SCALE in front of the
// shopper, in `immersive-vr` (a neutral studio floor) or `immersive-ar` passthrough (the shopper's room),
// grabbable with controllers (trigger or grip) or hands (pinch).
//
// API (used by element.js):
//   await Headset.modes()            -> {vr: bool, ar: bool}: which immersive session modes the device offers.
//   await Headset.isSupported()      -> true when immersive-vr is offered: a headset (phones offer only
//                                       immersive-ar, and get features/ar.js instead).
//   const xr = new Headset(viewer, {analytics})   viewer: the ProductViewer (.renderer, .scene, .model,
//                                       .product); analytics: {emit(type, props)}, default viewer.analytics.
//   await xr.start({passthrough})    starts the session from a user gesture. passthrough (default: whenever
//                                       the device offers immersive-ar) shows the room around the product.
//                                       Resolves once the session runs; rejects if it cannot start.
//   xr.end()
//   events (EventTarget): 'start', 'grab', 'release', 'end'.
//   test hook: window.__immersive.xr is the running Headset; its fields: session, mode, content (the placed
//   Object3D), model (the product as shown), grabs, frames.
// Analytics: xr_started {mode}, xr_ended {mode, duration_ms, grabs}.
//
// Where the product appears: floor products stand on the floor ~1 m in front of the shopper, anything else
// floats at chest height within arm's reach; the front (+Z) faces the shopper. A grab moves and turns it
// freely (its scale never changes); a floor product let go settles back onto the floor, upright.
import * as THREE from 'three';
import { XRHandModelFactory } from 'three/addons/webxr/XRHandModelFactory.js';

import { ContactShadow } from '../contact-shadow.js';

const NEAR_EDGE_M = 0.9; // distance from the shopper to the near edge of a floor product
const REACH_M = 0.45; // distance from the shopper to the near edge of a hand-held-size product
const CHEST_BELOW_EYES_M = 0.45;
const GRAB_MARGIN_M = 0.06; // a controller/hand this close to the product's box grabs it without pointing
const RAY_LENGTH_M = 3;
const STUDIO_COLOUR = 0xd9dce1;

export class Headset extends EventTarget {
  static async modes() {
    const xr = window.isSecureContext ? navigator.xr : null;
    const ask = (mode) => (xr?.isSessionSupported ? xr.isSessionSupported(mode).catch(() => false) : false);
    const [vr, ar] = await Promise.all([ask('immersive-vr'), ask('immersive-ar')]);
    return { vr, ar };
  }

  static async isSupported() {
    return (await Headset.modes()).vr;
  }

  constructor(viewer, { analytics = viewer.analytics } = {}) {
    super();
    this.viewer = viewer;
    this.analytics = analytics;
    this.session = null;
  }

  #emit(type, props = {}) {
    this.analytics?.emit(type, props);
  }

  async start({ passthrough } = {}) {
    if (this.session) throw new Error('an XR session is already running');
    const viewer = this.viewer;
    if (!viewer.model) throw new Error('the model is not loaded yet');
    const modes = await Headset.modes();
    if (!modes.vr && !modes.ar) throw new Error('this browser offers no immersive WebXR session');
    this.mode = ((passthrough ?? modes.ar) && modes.ar) || !modes.vr ? 'immersive-ar' : 'immersive-vr';
    const session = await navigator.xr.requestSession(this.mode, { optionalFeatures: ['local-floor', 'hand-tracking'] });
    this.session = session;
    this.startedAt = performance.now();
    this.grabs = 0;
    this.frames = 0;
    this.content = null;
    this.#buildScene();
    const renderer = viewer.renderer;
    this.referenceSpaceType = await session.requestReferenceSpace('local-floor').then(() => 'local-floor', () => 'local');
    this.xrWasEnabled = renderer.xr.enabled;
    renderer.xr.enabled = true;
    renderer.xr.setReferenceSpaceType(this.referenceSpaceType);
    // three.js' own end handling (presenting off, canvas size back) runs first, then ours.
    this.onSessionEnd = () => this.#onEnd();
    renderer.xr.addEventListener('sessionend', this.onSessionEnd);
    try {
      await renderer.xr.setSession(session);
    } catch (err) {
      await session.end().catch(() => {}); // rejects once the session is over: the caller sees a clean state
      throw err;
    }
    this.referenceSpace = renderer.xr.getReferenceSpace();
    this.#connectInputs();
    const onFrame = (time, frame) => {
      if (this.session !== session) return;
      session.requestAnimationFrame(onFrame);
      this.#onFrame(frame);
    };
    session.requestAnimationFrame(onFrame);
    this.running = true;
    (window.__immersive ||= { viewers: [] }).xr = this;
    this.#emit('xr_started', { mode: this.mode, reference_space: this.referenceSpaceType });
    this.dispatchEvent(new Event('start'));
  }

  end() {
    return this.session?.end();
  }

  // --- scene -------------------------------------------------------------------------------------------

  // The headset draws its own scene with its own camera (three.js writes the XR pose into the camera that
  // renders, which would move the viewer's orbit camera).
  #buildScene() {
    const viewer = this.viewer;
    const scene = new THREE.Scene();
    scene.environment = viewer.scene.environment;
    if (this.mode === 'immersive-vr') {
      // A quiet studio: light grey all round and a floor fading into it, so the product stands somewhere.
      scene.background = new THREE.Color(STUDIO_COLOUR);
      scene.fog = new THREE.Fog(STUDIO_COLOUR, 4, 14);
      const floor = new THREE.Mesh(
        new THREE.CircleGeometry(14, 64).rotateX(-Math.PI / 2),
        new THREE.MeshStandardMaterial({ color: 0x9ea4ac, roughness: 1, metalness: 0 }),
      );
      floor.name = 'studio-floor';
      scene.add(floor);
      this.studioFloor = floor;
    }
    this.scene = scene;
    this.camera = new THREE.PerspectiveCamera(50, 1, 0.02, 100); // near/far become the XR depth range

    this.content = new THREE.Group();
    this.content.name = 'xr-content';
    this.content.visible = false; // until the first frame tells where the shopper stands
    this.pivot = new THREE.Group();
    this.content.add(this.pivot);
    scene.add(this.content);
    this.#showModel(viewer.model);
    this.onViewerModel = () => this.#showModel(viewer.model);
    viewer.addEventListener('model', this.onViewerModel);
  }

  // A copy of the viewer's model (geometry and materials shared: the chosen variant), bottom centre at the
  // content's origin; replaced when the viewer swaps in a finer LOD.
  #showModel(source) {
    if (this.model) this.pivot.remove(this.model);
    const model = source.clone(true);
    const box = new THREE.Box3().setFromObject(model, true); // in the model's own frame: no parent yet
    this.model = model;
    this.pivot.add(model);
    const centre = box.getCenter(new THREE.Vector3());
    this.pivot.position.set(-centre.x, -box.min.y, -centre.z);
    this.localBox = box.clone().translate(this.pivot.position); // in the content's frame
    if (this.#onFloor()) this.#updateShadow();
  }

  #onFloor() {
    return this.viewer.product?.placement === 'floor';
  }

  // The viewer's soft contact shadow, rendered once in the product's own frame (it then moves with it).
  #updateShadow() {
    this.shadow ||= new ContactShadow();
    this.content.add(this.shadow.updateDetached(this.viewer.renderer, this.model, this.pivot.position));
  }

  // In front of the viewer's first pose, front towards them.
  #placeInFront(viewerPose) {
    const eye = new THREE.Vector3().copy(viewerPose.transform.position);
    const look = new THREE.Vector3(0, 0, -1).applyQuaternion(new THREE.Quaternion().copy(viewerPose.transform.orientation));
    look.setY(0);
    if (look.lengthSq() < 1e-6) look.set(0, 0, -1); // looking straight up or down
    look.normalize();
    const size = this.localBox.getSize(new THREE.Vector3());
    const halfDepth = size.z / 2;
    const position = eye.clone();
    if (this.#onFloor()) {
      position.addScaledVector(look, NEAR_EDGE_M + halfDepth);
      position.y = this.referenceSpaceType === 'local-floor' ? 0 : eye.y - 1.6; // 'local': floor unknown, assume eyes at 1.6 m
    } else {
      position.addScaledVector(look, REACH_M + halfDepth);
      position.y = eye.y - CHEST_BELOW_EYES_M - size.y / 2;
    }
    this.content.position.copy(position);
    this.content.quaternion.setFromUnitVectors(new THREE.Vector3(0, 0, 1), look.clone().negate());
    this.content.visible = true;
  }

  // --- input -------------------------------------------------------------------------------------------

  // Controllers and hands both arrive as input sources: select (trigger / pinch) and squeeze (grip) grab.
  #connectInputs() {
    const renderer = this.viewer.renderer;
    const handModels = new XRHandModelFactory();
    this.inputs = [];
    for (let i = 0; i < 2; i++) {
      const controller = renderer.xr.getController(i);
      const ray = new THREE.Line(
        new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(0, 0, 0), new THREE.Vector3(0, 0, -RAY_LENGTH_M)]),
        new THREE.LineBasicMaterial({ color: 0xffffff, transparent: true, opacity: 0.6 }),
      );
      ray.name = 'ray';
      controller.add(ray);
      const hand = renderer.xr.getHand(i);
      const handModel = handModels.createHandModel(hand, 'spheres');
      hand.add(handModel);
      const onStart = () => this.#grab(controller);
      const onEnd = () => this.#release(controller);
      const onConnected = (event) => { ray.visible = !event.data.hand; }; // hands point with their own model
      controller.addEventListener('selectstart', onStart);
      controller.addEventListener('squeezestart', onStart);
      controller.addEventListener('selectend', onEnd);
      controller.addEventListener('squeezeend', onEnd);
      controller.addEventListener('connected', onConnected);
      this.scene.add(controller, hand);
      this.inputs.push({ controller, hand, handModel, ray, onStart, onEnd, onConnected });
    }
  }

  // Grabs when the input points at the product (its ray meets the product's box) or is in it (hands, near).
  #grab(controller) {
    if (this.holder || !this.content.visible) return;
    controller.updateMatrixWorld(true);
    this.content.updateMatrixWorld(true);
    const toContent = this.content.matrixWorld.clone().invert();
    const box = this.localBox.clone().expandByScalar(GRAB_MARGIN_M);
    const origin = new THREE.Vector3().setFromMatrixPosition(controller.matrixWorld).applyMatrix4(toContent);
    const direction = new THREE.Vector3(0, 0, -1).transformDirection(controller.matrixWorld).transformDirection(toContent);
    const near = box.containsPoint(origin);
    if (!near && !new THREE.Ray(origin, direction).intersectsBox(box)) return;
    this.holder = controller;
    // Where the product sits in the holder's frame, kept while held.
    this.heldOffset = controller.matrixWorld.clone().invert().multiply(this.content.matrixWorld);
    this.grabs += 1;
    this.dispatchEvent(new CustomEvent('grab', { detail: { near } }));
  }

  #release(controller) {
    if (this.holder !== controller) return;
    this.holder = null;
    if (this.#onFloor()) {
      // Back on the floor, upright, facing where it faced.
      const front = new THREE.Vector3(0, 0, 1).applyQuaternion(this.content.quaternion).setY(0);
      if (front.lengthSq() < 1e-6) front.set(0, 0, 1);
      this.content.quaternion.setFromUnitVectors(new THREE.Vector3(0, 0, 1), front.normalize());
      this.content.position.y = this.floorY;
    }
    this.dispatchEvent(new Event('release'));
  }

  // --- frame loop --------------------------------------------------------------------------------------

  // Runs after three.js' own XR frame callback (registered first), which has set the XR framebuffer, the
  // view poses and the controllers; the viewer's loop does not draw while presenting.
  #onFrame(frame) {
    if (!this.content.visible) {
      const pose = frame.getViewerPose(this.referenceSpace);
      if (!pose) return;
      this.#placeInFront(pose);
      this.floorY = this.content.position.y;
    }
    if (this.holder) {
      const held = this.holder.matrixWorld.clone().multiply(this.heldOffset);
      const scale = new THREE.Vector3();
      held.decompose(this.content.position, this.content.quaternion, scale); // scale stays 1: true size
    }
    this.viewer.renderer.render(this.scene, this.camera);
    this.frames += 1;
  }

  #onEnd() {
    if (this.running) {
      this.#emit('xr_ended', { mode: this.mode, duration_ms: Math.round(performance.now() - this.startedAt), grabs: this.grabs });
    }
    this.running = false;
    this.session = null;
    this.holder = null;
    const renderer = this.viewer.renderer;
    for (const input of this.inputs || []) {
      const { controller, hand, handModel, ray, onStart, onEnd, onConnected } = input;
      controller.removeEventListener('selectstart', onStart);
      controller.removeEventListener('squeezestart', onStart);
      controller.removeEventListener('selectend', onEnd);
      controller.removeEventListener('squeezeend', onEnd);
      controller.removeEventListener('connected', onConnected);
      controller.remove(ray);
      ray.geometry.dispose();
      ray.material.dispose();
      hand.remove(handModel);
    }
    this.inputs = [];
    renderer.xr.removeEventListener('sessionend', this.onSessionEnd);
    renderer.xr.enabled = this.xrWasEnabled;
    this.viewer.removeEventListener('model', this.onViewerModel);
    this.shadow?.dispose();
    this.shadow = null;
    this.studioFloor?.geometry.dispose();
    this.studioFloor?.material.dispose();
    this.studioFloor = null;
    if (window.__immersive?.xr === this) window.__immersive.xr = null;
    this.viewer.resize();
    this.viewer.needsRender = true;
    this.dispatchEvent(new Event('end'));
  }
}
