// The product viewer: renderer, camera, studio light, loading, render loop. Features (LODs, variants,
// hotspots, dimensions, AR, headsets, analytics) live in js/features/, one per file, and use this class's
// public fields.
//
// Conventions (the asset pipeline's): metres, +Y up, product front +Z, origin at the bottom centre (try-on
// items: their category's anchor, asset_pipeline/tryon.py). The model is shown at its true size; the camera
// frames its bounding box, wherever the origin is.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { KTX2Loader } from 'three/addons/loaders/KTX2Loader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';

import { decoderPaths } from './api.js';
import { ContactShadow } from './contact-shadow.js';
import { fetchStudioLight } from './studio-light.js';

const FIELD_OF_VIEW = 30; // degrees, vertical: a mild telephoto, little perspective distortion on products
// Placements that stand on something: the camera stays above their floor and a contact shadow is drawn.
const GROUNDED = new Set(['floor', 'table', 'wall']);

// Tests and tools read state from here rather than private fields.
window.__immersive = window.__immersive || { viewers: [] };

export class ProductViewer extends EventTarget {
  /**
   * @param {HTMLElement} container the canvas is appended to it and follows its size
   * @param {object} options
   * @param {string} [options.base] service base (for the decoders); default: where this module was served from
   * @param {boolean} [options.autoRotate=true] turn slowly until the shopper first touches the model
   * @param {boolean} [options.shadow=true] soft contact shadow under grounded products
   * @param {number} [options.exposure=1] tone-mapping exposure
   * @param {{emit: function}} [options.analytics] where viewer events go
   * @param {Promise<object>} [options.studioLight] what fetchStudioLight() returned, when the page started
   *   the download before three.js loaded (default: download now)
   */
  constructor(container, { base, autoRotate = true, shadow = true, exposure = 1, analytics = null, studioLight = null } = {}) {
    super();
    this.container = container;
    this.analytics = analytics;
    this.product = null;
    this.model = null;
    this.gltf = null;
    this.modelLevel = null;
    this.interacted = false; // the shopper has turned/zoomed/panned the camera

    const renderer = new THREE.WebGLRenderer({ antialias: true, alpha: true });
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    renderer.outputColorSpace = THREE.SRGBColorSpace;
    // Khronos PBR Neutral: keeps base colours true to the product photo (ACES shifts hues and darkens).
    renderer.toneMapping = THREE.NeutralToneMapping;
    renderer.toneMappingExposure = exposure;
    renderer.setClearColor(0x000000, 0);
    // The synchronous shader-error check stalls on every compile (0.5 s+ on software GL): three.js' advice
    // for production. A broken shader still fails visibly.
    renderer.debug.checkShaderErrors = false;
    renderer.domElement.style.display = 'block';
    renderer.domElement.style.touchAction = 'none';
    container.appendChild(renderer.domElement);
    this.renderer = renderer;

    this.scene = new THREE.Scene();
    this.environment = null;
    this.studioLight = studioLight || fetchStudioLight(base);
    this.ensureEnvironment().catch(() => { /* reported when a model waits for it (parseModel) */ });

    this.camera = new THREE.PerspectiveCamera(FIELD_OF_VIEW, 1, 0.01, 100);
    this.controls = new OrbitControls(this.camera, renderer.domElement);
    this.controls.enableDamping = true;
    this.controls.autoRotate = autoRotate;
    this.controls.autoRotateSpeed = 1.5;
    this.controls.addEventListener('start', () => this.#firstInteraction(), { once: true });
    this.controls.addEventListener('change', () => this.#clampTarget());

    this.shadow = shadow ? new ContactShadow() : null;
    if (this.shadow) this.scene.add(this.shadow.group);

    const paths = decoderPaths(base);
    this.loader = new GLTFLoader()
      .setDRACOLoader(new DRACOLoader().setDecoderPath(paths.draco))
      .setKTX2Loader(new KTX2Loader().setTranscoderPath(paths.basis).detectSupport(renderer))
      .setMeshoptDecoder(MeshoptDecoder);

    this.bounds = new THREE.Box3();
    this.needsRender = true;
    this.frames = 0;
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.resize();
    renderer.setAnimationLoop(() => this.#tick());
    window.__immersive.viewers.push(this);
    performance.mark('immersive:viewer'); // three.js and the viewer's code are loaded, the renderer is up
  }

  /** Size of the canvas = size of the container (CSS pixels). */
  resize() {
    const width = Math.max(this.container.clientWidth, 1);
    const height = Math.max(this.container.clientHeight, 1);
    this.renderer.setSize(width, height, false);
    this.renderer.domElement.style.width = '100%';
    this.renderer.domElement.style.height = '100%';
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.needsRender = true;
  }

  /**
   * Image-based studio light, a neutral softbox room: three's PMREM of its RoomEnvironment, pre-baked
   * (js/studio-light.js). Resolves once it is the scene's environment.
   */
  ensureEnvironment() {
    this.environmentReady ??= this.studioLight.then((light) => {
      if (this.disposed) return;
      this.environment = studioLightTexture(light);
      this.scene.environment = this.environment;
      this.needsRender = true;
    });
    return this.environmentReady;
  }

  /**
   * Decodes a GLB (its bytes, or a promise of them) without showing it, shaders compiled: {gltf, ms}.
   * `url` is where the bytes came from (relative resources resolve against it).
   */
  async parseModel(bytes, url) {
    const started = performance.now();
    const gltf = await this.loader.parseAsync(await bytes, new URL('.', url).href);
    await this.ensureEnvironment(); // the shaders compiled below depend on it
    // Compile the model's shaders off the main thread where the GPU driver can (KHR_parallel_shader_compile),
    // so showing it does not freeze the page.
    await this.renderer.compileAsync(gltf.scene, this.camera, this.scene);
    return { gltf, ms: performance.now() - started };
  }

  /**
   * Shows a loaded glTF as the product model (replacing the one shown, e.g. a coarser LOD) and frames
   * it the first time. `level` is the LOD level (0 = full detail).
   */
  showModel(gltf, level = 0) {
    const previous = this.model;
    const model = gltf.scene;
    model.name = model.name || 'product';
    model.traverse((object) => {
      if (object.isMesh) object.frustumCulled = true;
    });
    if (previous) this.scene.remove(previous);
    this.scene.add(model);
    this.model = model;
    this.gltf = gltf;
    this.modelLevel = level;
    this.bounds.setFromObject(model);
    // A coarse LOD can be smaller than the product (thin parts such as earring hooks simplified away): until
    // the shopper moves the camera, each finer model is framed again, from the same direction.
    if (!previous || !this.interacted) this.frame({ keepDirection: Boolean(previous) });
    if (this.shadow) {
      // Drawn after the model's first frame: its shaders would otherwise delay the first model pixel.
      this.shadow.group.visible = false;
      this.shadowPending = GROUNDED.has(this.product?.placement);
    }
    if (previous) disposeObject(previous);
    this.needsRender = true;
    this.dispatchEvent(new CustomEvent('model', { detail: { level, first: !previous } }));
  }

  /**
   * Puts the camera so that all of the model is in view: in front of it (+Z), a little above, or with
   * keepDirection from where the camera looks now (e.g. mid auto-rotation).
   */
  frame({ keepDirection = false } = {}) {
    const box = this.bounds;
    const sphere = box.getBoundingSphere(new THREE.Sphere());
    const radius = Math.max(sphere.radius, 0.01);
    const distance = radius / Math.sin(THREE.MathUtils.degToRad(FIELD_OF_VIEW / 2)) * 1.08;
    const target = box.getCenter(new THREE.Vector3());
    const elevation = THREE.MathUtils.degToRad(15);
    const direction = keepDirection
      ? this.camera.position.clone().sub(this.controls.target).normalize()
      : new THREE.Vector3(0, Math.sin(elevation), Math.cos(elevation));
    this.camera.position.copy(direction).multiplyScalar(distance).add(target);
    this.camera.near = distance / 100;
    this.camera.far = distance * 10;
    this.camera.updateProjectionMatrix();
    const controls = this.controls;
    controls.target.copy(target);
    controls.minDistance = radius * 1.1;
    controls.maxDistance = distance * 2.5;
    // Grounded products are not seen from under their floor; other items can be turned all round.
    controls.minPolarAngle = THREE.MathUtils.degToRad(5);
    controls.maxPolarAngle = GROUNDED.has(this.product?.placement) ? THREE.MathUtils.degToRad(93) : THREE.MathUtils.degToRad(175);
    controls.update();
    this.home = { position: this.camera.position.clone(), target: target.clone() };
    this.needsRender = true;
  }

  /** Renders one frame now (tests and features call it after changing the scene). */
  render() {
    this.dispatchEvent(new Event('beforerender'));
    this.renderer.render(this.scene, this.camera);
    this.frames += 1;
    if (this.frames === 1 || (this.model && !this.firstModelFrame)) this.#markFirstFrames();
    this.dispatchEvent(new Event('render'));
  }

  #markFirstFrames() {
    if (this.model && !this.firstModelFrame) {
      this.firstModelFrame = performance.now();
      performance.mark('immersive:first-model-frame');
      this.dispatchEvent(new Event('firstmodelframe'));
    }
  }

  #tick() {
    if (this.renderer.xr.isPresenting) return; // XR sessions drive their own loop (features/ar.js, headset.js)
    const moved = this.controls.update();
    if (this.shadowPending && this.frames > 0 && this.firstModelFrame) {
      this.shadowPending = false;
      this.shadow.update(this.renderer, this.scene, this.bounds);
      this.shadow.group.visible = true;
      this.needsRender = true;
    }
    if (moved || this.needsRender) {
      this.needsRender = false;
      this.render();
    }
  }

  // Auto-rotation stops for good at the first touch/drag/wheel, as in model-viewer.
  #firstInteraction() {
    this.interacted = true;
    if (this.controls.autoRotate) {
      this.controls.autoRotate = false;
      this.dispatchEvent(new Event('interaction'));
    }
  }

  // Panning stays within the product's bounding box, so the product cannot be lost off screen.
  #clampTarget() {
    if (!this.model) return;
    const target = this.controls.target;
    const clamped = this.bounds.clampPoint(target, new THREE.Vector3());
    if (!clamped.equals(target)) {
      this.camera.position.add(clamped.clone().sub(target));
      target.copy(clamped);
    }
    this.needsRender = true;
  }

  dispose() {
    this.renderer.setAnimationLoop(null);
    this.resizeObserver.disconnect();
    this.controls.dispose();
    if (this.model) disposeObject(this.model);
    this.shadow?.dispose();
    this.disposed = true;
    this.environment?.dispose();
    this.renderer.dispose();
    this.renderer.domElement.remove();
    const list = window.__immersive.viewers;
    list.splice(list.indexOf(this), 1);
  }
}

/**
 * The studio light's texels as the texture PMREMGenerator would have made: a half-float cube map with the
 * prefiltered mip levels given (none generated), linear, trilinear filtering, flagged as a PMREM (the
 * shaders then pick the mip level from the roughness).
 */
function studioLightTexture({ size, levels }) {
  const faces = [0, 1, 2, 3, 4, 5].map((face) => ({
    width: size,
    height: size,
    mipmaps: levels.map(({ width, faces: texels }) => ({ data: texels[face], width, height: width })),
  }));
  const texture = new THREE.CompressedCubeTexture(faces, THREE.RGBAFormat, THREE.HalfFloatType);
  texture.name = 'PMREM';
  texture.isPMREMTexture = true;
  texture.colorSpace = THREE.LinearSRGBColorSpace;
  texture.minFilter = THREE.LinearMipmapLinearFilter;
  texture.magFilter = THREE.LinearFilter;
  texture.generateMipmaps = false;
  texture.needsUpdate = true;
  return texture;
}

/** Frees the GPU memory of an object tree's geometries, materials and textures. */
export function disposeObject(root) {
  root.traverse((object) => {
    if (!object.isMesh) return;
    object.geometry?.dispose();
    const materials = Array.isArray(object.material) ? object.material : [object.material];
    for (const material of materials) {
      if (!material) continue;
      for (const value of Object.values(material)) if (value?.isTexture) value.dispose();
      material.dispose();
    }
  });
}
