// KHR_materials_variants: the glTF's named material sets (e.g. fabric colours). three.js' GLTFLoader keeps
// the extension's data in userData; this switches primitives' materials as three.js' variants example does.

/** Variant names of a loaded glTF, in file order. */
export function variantNames(gltf) {
  return (gltf?.parser.json.extensions?.KHR_materials_variants?.variants || []).map((v) => v.name);
}

/**
 * Shows the named variant (null = the file's default materials) on a loaded glTF. Resolves when every
 * material is in place. Throws on an unknown name.
 */
export async function selectVariant(gltf, name) {
  const names = variantNames(gltf);
  const index = name == null ? -1 : names.indexOf(name);
  if (name != null && index < 0) throw new Error(`no variant named ${JSON.stringify(name)}`);
  const parser = gltf.parser;
  const jobs = [];
  gltf.scene.traverse((object) => {
    const ext = object.isMesh && object.userData.gltfExtensions?.KHR_materials_variants;
    if (!ext) return;
    if (!object.userData.defaultMaterial) object.userData.defaultMaterial = object.material;
    const mapping = ext.mappings.find((m) => m.variants.includes(index));
    if (!mapping) {
      object.material = object.userData.defaultMaterial;
      return;
    }
    jobs.push(parser.getDependency('material', mapping.material).then((material) => {
      object.material = material;
      parser.assignFinalMaterial(object);
    }));
  });
  await Promise.all(jobs);
}

/**
 * A picker of the product's variants. The selection survives LOD swaps (the finer model gets the same
 * variant). Emits variant_switched.
 */
export class VariantPicker {
  constructor(viewer, container, { analytics = viewer.analytics, initial = null } = {}) {
    this.viewer = viewer;
    this.container = container;
    this.analytics = analytics;
    this.selected = initial;
    viewer.addEventListener('model', () => this.#onModel());
  }

  async #onModel() {
    const names = variantNames(this.viewer.gltf);
    if (this.selected && names.includes(this.selected)) await selectVariant(this.viewer.gltf, this.selected);
    this.viewer.needsRender = true;
    this.#draw(names);
  }

  #draw(names) {
    this.container.replaceChildren();
    this.container.hidden = names.length < 2;
    for (const name of names) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'variant';
      button.textContent = name;
      button.dataset.variant = name;
      button.setAttribute('aria-pressed', String(name === this.selected));
      button.addEventListener('click', () => this.select(name));
      this.container.appendChild(button);
    }
  }

  async select(name) {
    const previous = this.selected;
    await selectVariant(this.viewer.gltf, name);
    this.selected = name;
    for (const button of this.container.querySelectorAll('button')) {
      button.setAttribute('aria-pressed', String(button.dataset.variant === name));
    }
    this.viewer.needsRender = true;
    if (name !== previous) this.analytics?.emit('variant_switched', { variant: name, from: previous ?? null });
    this.viewer.dispatchEvent(new CustomEvent('variant', { detail: { name } }));
  }
}
