// Hotspots (annotations) from the product data: points on the product's surface, in metres in the
// product's frame (bottom-centre origin, +Y up, front +Z), each with a label and a text. They are DOM
// buttons placed over the canvas every frame; a hotspot whose surface faces away from the camera fades.
import * as THREE from 'three';

export class Hotspots {
  /**
   * @param viewer the ProductViewer
   * @param {HTMLElement} layer an element covering the canvas exactly (position: relative/absolute)
   */
  constructor(viewer, layer, { analytics = viewer.analytics } = {}) {
    this.viewer = viewer;
    this.layer = layer;
    this.analytics = analytics;
    this.items = [];
    viewer.addEventListener('render', () => this.update());
  }

  /** Replaces the hotspots with the product's list: [{id, label, text, position, normal}]. */
  set(hotspots) {
    this.layer.replaceChildren();
    this.items = (hotspots || []).map((spot) => {
      const element = document.createElement('button');
      element.type = 'button';
      element.className = 'hotspot';
      element.dataset.hotspot = spot.id;
      element.setAttribute('aria-expanded', 'false');
      const dot = document.createElement('span');
      dot.className = 'hotspot-dot';
      const label = document.createElement('span');
      label.className = 'hotspot-label';
      label.textContent = spot.label;
      const text = document.createElement('span');
      text.className = 'hotspot-text';
      text.textContent = spot.text || '';
      text.hidden = true;
      element.append(dot, label, text);
      element.addEventListener('click', (event) => {
        event.stopPropagation();
        this.toggle(spot.id);
      });
      this.layer.appendChild(element);
      return {
        spot,
        element,
        text,
        position: new THREE.Vector3(...spot.position),
        normal: spot.normal ? new THREE.Vector3(...spot.normal).normalize() : null,
      };
    });
    this.viewer.needsRender = true;
  }

  toggle(id) {
    for (const item of this.items) {
      const open = item.spot.id === id && item.text.hidden;
      if (open) this.analytics?.emit('hotspot_opened', { hotspot: id });
      item.text.hidden = !open;
      item.element.setAttribute('aria-expanded', String(open));
      item.element.classList.toggle('open', open);
    }
  }

  /** Moves every hotspot to its projected position (called after each render). */
  update() {
    if (!this.items.length) return;
    const { camera, renderer } = this.viewer;
    const width = renderer.domElement.clientWidth;
    const height = renderer.domElement.clientHeight;
    const projected = new THREE.Vector3();
    const toCamera = new THREE.Vector3();
    for (const item of this.items) {
      projected.copy(item.position).project(camera);
      const visible = this.viewer.model && projected.z < 1;
      const x = (projected.x * 0.5 + 0.5) * width;
      const y = (-projected.y * 0.5 + 0.5) * height;
      item.element.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
      item.element.hidden = !visible;
      // Facing away: the annotated surface is on the far side of the product.
      let facing = true;
      if (item.normal) {
        toCamera.copy(camera.position).sub(item.position);
        facing = toCamera.dot(item.normal) > 0;
      }
      item.element.classList.toggle('behind', !facing);
    }
  }
}
