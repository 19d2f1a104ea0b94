// The dimensions overlay: the product's real width, height and depth (from the pipeline's metadata, i.e.
// the size of the model at true scale) as lines along its bounding box with labels in metres or inches.
import * as THREE from 'three';

import { formatLength } from '../format.js';

export class Dimensions {
  /**
   * @param viewer the ProductViewer
   * @param {HTMLElement} layer an element covering the canvas exactly, for the labels
   * @param {object} options
   * @param {'metric'|'imperial'} [options.units='metric']
   */
  constructor(viewer, layer, { units = 'metric', analytics = viewer.analytics } = {}) {
    this.viewer = viewer;
    this.layer = layer;
    this.units = units;
    this.analytics = analytics;
    this.visible = false;
    this.group = new THREE.Group();
    this.group.name = 'dimensions';
    this.group.visible = false;
    viewer.scene.add(this.group);
    this.labels = {};
    for (const axis of ['width', 'height', 'depth']) {
      const label = document.createElement('span');
      label.className = 'dimension';
      label.dataset.axis = axis;
      label.hidden = true;
      layer.appendChild(label);
      this.labels[axis] = label;
    }
    viewer.addEventListener('model', () => this.#build());
    viewer.addEventListener('render', () => this.update());
  }

  /** The product's real size {width, height, depth} in metres: the asset's measured size, else the catalogue's. */
  size() {
    const product = this.viewer.product;
    return product?.asset?.dimensions_m || product?.dimensions_m || null;
  }

  show(visible = true) {
    this.visible = visible;
    this.group.visible = visible;
    for (const label of Object.values(this.labels)) label.hidden = !visible;
    if (visible) this.analytics?.emit('dimensions_shown', { units: this.units });
    this.viewer.needsRender = true;
  }

  setUnits(units) {
    this.units = units;
    this.#text();
    this.viewer.needsRender = true;
  }

  #build() {
    this.group.clear();
    const box = this.viewer.bounds;
    if (box.isEmpty()) return;
    const { min, max } = box;
    const gap = Math.max(box.getSize(new THREE.Vector3()).length() * 0.04, 0.005);
    // Width along the front bottom edge, height up the right front edge, depth along the right bottom edge.
    this.lines = {
      width: [new THREE.Vector3(min.x, min.y, max.z + gap), new THREE.Vector3(max.x, min.y, max.z + gap)],
      height: [new THREE.Vector3(max.x + gap, min.y, max.z), new THREE.Vector3(max.x + gap, max.y, max.z)],
      depth: [new THREE.Vector3(max.x + gap, min.y, min.z), new THREE.Vector3(max.x + gap, min.y, max.z)],
    };
    const material = new THREE.LineBasicMaterial({ color: 0x1f2937, depthTest: false, transparent: true });
    for (const [start, end] of Object.values(this.lines)) {
      const line = new THREE.Line(new THREE.BufferGeometry().setFromPoints([start, end]), material);
      line.renderOrder = 2;
      this.group.add(line);
    }
    this.#text();
  }

  #text() {
    const size = this.size();
    for (const [axis, label] of Object.entries(this.labels)) {
      const metres = size ? size[axis] : null;
      label.textContent = metres == null ? '' : formatLength(metres, this.units);
      label.dataset.metres = metres == null ? '' : String(metres);
    }
  }

  update() {
    if (!this.visible || !this.lines) return;
    const { camera, renderer } = this.viewer;
    const width = renderer.domElement.clientWidth;
    const height = renderer.domElement.clientHeight;
    const middle = new THREE.Vector3();
    for (const [axis, [start, end]] of Object.entries(this.lines)) {
      middle.addVectors(start, end).multiplyScalar(0.5).project(camera);
      const x = (middle.x * 0.5 + 0.5) * width;
      const y = (-middle.y * 0.5 + 0.5) * height;
      this.labels[axis].style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
    }
  }
}
