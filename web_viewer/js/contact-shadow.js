// A soft contact shadow under the product (three.js' webgl_shadow_contact technique, as model-viewer
// does it): the model is rendered from below with an orthographic camera into a texture, darker where it
// is closer to the floor, then blurred twice. The product is static, so the shadow is rendered once per
// model (and per LOD swap), not per frame.
import * as THREE from 'three';
import { HorizontalBlurShader } from 'three/addons/shaders/HorizontalBlurShader.js';
import { VerticalBlurShader } from 'three/addons/shaders/VerticalBlurShader.js';

const RESOLUTION = 512;

export class ContactShadow {
  /**
   * @param {object} options
   * @param {number} [options.opacity=0.75] darkness of the shadow where the model touches the floor
   * @param {number} [options.blur=3.5] blur radius in texels of the 512x512 shadow texture
   * @param {number} [options.falloff=0.35] how far above the floor (as a fraction of the model's height,
   *   at least 5 cm) parts still cast shadow
   */
  constructor({ opacity = 0.75, blur = 3.5, falloff = 0.35 } = {}) {
    this.options = { opacity, blur, falloff };
    this.group = new THREE.Group();
    this.group.name = 'contact-shadow';
    this.target = new THREE.WebGLRenderTarget(RESOLUTION, RESOLUTION);
    this.target.texture.generateMipmaps = false;
    this.blurTarget = new THREE.WebGLRenderTarget(RESOLUTION, RESOLUTION);
    this.blurTarget.texture.generateMipmaps = false;

    const plane = new THREE.PlaneGeometry(1, 1).rotateX(Math.PI / 2);
    this.plane = new THREE.Mesh(
      plane,
      new THREE.MeshBasicMaterial({ map: this.target.texture, transparent: true, depthWrite: false, opacity }),
    );
    this.plane.renderOrder = 1;
    this.plane.scale.y = -1; // the texture is seen from below: flip it back
    this.group.add(this.plane);
    this.blurPlane = new THREE.Mesh(plane);
    this.blurPlane.visible = false;
    this.group.add(this.blurPlane);

    this.camera = new THREE.OrthographicCamera(-0.5, 0.5, 0.5, -0.5, 0, 1);
    this.camera.rotation.x = Math.PI / 2; // look up at the model's underside
    this.group.add(this.camera);

    this.depthMaterial = new THREE.MeshDepthMaterial();
    this.depthMaterial.depthTest = false;
    this.depthMaterial.depthWrite = false;
    this.depthMaterial.onBeforeCompile = (shader) => {
      shader.fragmentShader = shader.fragmentShader.replace(
        'gl_FragColor = vec4( vec3( 1.0 - fragCoordZ ), opacity );',
        'gl_FragColor = vec4( vec3( 0.0 ), ( 1.0 - fragCoordZ ) );',
      );
    };
    this.horizontalBlur = new THREE.ShaderMaterial(HorizontalBlurShader);
    this.horizontalBlur.depthTest = false;
    this.verticalBlur = new THREE.ShaderMaterial(VerticalBlurShader);
    this.verticalBlur.depthTest = false;
  }

  /** Fits the shadow to the model's bounding box (world space) and renders it. */
  update(renderer, scene, box) {
    const size = box.getSize(new THREE.Vector3());
    const centre = box.getCenter(new THREE.Vector3());
    const extent = Math.max(size.x, size.z) * 1.6 + 0.02;
    this.group.position.set(centre.x, box.min.y + 0.0005, centre.z);
    this.plane.scale.set(extent, -1, extent);
    this.blurPlane.scale.set(extent, 1, extent);
    Object.assign(this.camera, { left: -extent / 2, right: extent / 2, top: extent / 2, bottom: -extent / 2 });
    this.camera.far = Math.max(size.y * this.options.falloff, 0.05);
    this.camera.updateProjectionMatrix();

    const saved = {
      background: scene.background,
      target: renderer.getRenderTarget(),
      clearAlpha: renderer.getClearAlpha(),
      toneMapping: renderer.toneMapping,
      xr: renderer.xr.enabled,
    };
    scene.background = null;
    this.plane.visible = false;
    scene.overrideMaterial = this.depthMaterial;
    renderer.xr.enabled = false;
    renderer.toneMapping = THREE.NoToneMapping;
    renderer.setClearAlpha(0);
    renderer.setRenderTarget(this.target);
    renderer.clear();
    renderer.render(scene, this.camera);
    scene.overrideMaterial = null;
    this.#blur(renderer, this.options.blur);
    this.#blur(renderer, this.options.blur * 0.4);
    this.plane.visible = true;
    renderer.setRenderTarget(saved.target);
    renderer.setClearAlpha(saved.clearAlpha);
    renderer.toneMapping = saved.toneMapping;
    renderer.xr.enabled = saved.xr;
    scene.background = saved.background;
  }

  /**
   * Renders the shadow of a copy of `model` placed at `offset`, in a scratch scene, for features that carry
   * the product around (AR, headsets): hung under the product's parent, the shadow then moves with it.
   * Returns the shadow's group.
   */
  updateDetached(renderer, model, offset) {
    const studio = new THREE.Scene();
    const holder = new THREE.Group();
    holder.position.copy(offset);
    holder.add(model.clone(true));
    studio.add(holder, this.group);
    studio.updateMatrixWorld(true);
    this.update(renderer, studio, new THREE.Box3().setFromObject(holder, true));
    return this.group;
  }

  #blur(renderer, amount) {
    this.blurPlane.visible = true;
    this.blurPlane.material = this.horizontalBlur;
    this.horizontalBlur.uniforms.tDiffuse.value = this.target.texture;
    this.horizontalBlur.uniforms.h.value = amount / 256;
    renderer.setRenderTarget(this.blurTarget);
    renderer.render(this.blurPlane, this.camera);
    this.blurPlane.material = this.verticalBlur;
    this.verticalBlur.uniforms.tDiffuse.value = this.blurTarget.texture;
    this.verticalBlur.uniforms.v.value = amount / 256;
    renderer.setRenderTarget(this.target);
    renderer.render(this.blurPlane, this.camera);
    this.blurPlane.visible = false;
  }

  dispose() {
    this.target.dispose();
    this.blurTarget.dispose();
    this.plane.geometry.dispose();
    this.plane.material.dispose();
    this.depthMaterial.dispose();
    this.horizontalBlur.dispose();
    this.verticalBlur.dispose();
  }
}
