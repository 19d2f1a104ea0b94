// Live try-on in the browser: the fit math (a port of immersive/tryon/fit.py), One Euro smoothing (a port of
// immersive/tryon/smoothing.py), the view that draws the product over the camera video (TryOnView), and the
// two ways of getting transforms:
//   - DeviceTracking: MediaPipe's Face Landmarker runs in this browser (npm @mediapipe/tasks-vision, its wasm
//     and the model served by our service): no frame leaves the phone;
//   - KioskStreamClient: frames go to the service's WebSocket (/api/v1/tryon/stream), which answers with the same
//     transforms computed by fit.py (immersive/tryon/stream.py has the protocol).
//
// Conventions (fit.py's): camera space is three.js' (+X right, +Y up, looking down -Z), metres; a transform maps
// product coordinates (the try-on spec's: origin at the category's anchor, real size) to camera space, so the
// product is drawn with the camera at the origin, the projection of the camera's intrinsics and the transform
// as the model's matrix. Matrices inside the fit are row-major 3x3 arrays (numpy's order); what leaves the fit
// for three.js is column-major (Matrix4.elements).
//
// The constants come from the service (GET /api/v1/tryon/parameters: .fit = fit.fit_parameters()), so there is
// one definition of every anchor and size; only the algorithm is written twice. Parity is tested: the same
// landmarks through fit.py and through this file give the same transforms (tests/browser/test_tryon_parity.py).
import * as THREE from 'three';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { KTX2Loader } from 'three/addons/loaders/KTX2Loader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';
import { RoomEnvironment } from 'three/addons/environments/RoomEnvironment.js';

import { decoderPaths, tasksVisionPaths, tryonStreamUrl } from '../api.js';
import { selectVariant, variantNames } from './variants.js';

export const NEAR_M = 0.01; // the stream's projection range (immersive/tryon/stream.py NEAR_M, FAR_M)
export const FAR_M = 10.0;
const FACE_CATEGORIES = ['glasses', 'sunglasses', 'hat', 'earrings', 'necklace'];
const EARRING_NODES = { left: 'EarringL', right: 'EarringR' };

// ---- small linear algebra (row-major 3x3 as arrays of 9; vectors as arrays of 3) --------------------------

const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const mul = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const norm = (a) => Math.hypot(a[0], a[1], a[2]);
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const column = (m, j) => [m[j], m[3 + j], m[6 + j]];
const matVec = (m, v) => [dot(m.slice(0, 3), v), dot(m.slice(3, 6), v), dot(m.slice(6, 9), v)];
const transposeVec = (m, v) => [dot(column(m, 0), v), dot(column(m, 1), v), dot(column(m, 2), v)]; // m^T v
function matMul(a, b) {
  const out = new Array(9);
  for (let i = 0; i < 3; i += 1) for (let j = 0; j < 3; j += 1) {
    out[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
  }
  return out;
}
const fromColumns = (x, y, z) => [x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]];

/** Solves the n x n system a x = b (a as rows) by Gaussian elimination with partial pivoting. */
function solve(a, b) {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c += 1) {
    let pivot = c;
    for (let r = c + 1; r < n; r += 1) if (Math.abs(m[r][c]) > Math.abs(m[pivot][c])) pivot = r;
    if (Math.abs(m[pivot][c]) < 1e-300) throw new FitError('singular system in the pose fit');
    [m[c], m[pivot]] = [m[pivot], m[c]];
    for (let r = c + 1; r < n; r += 1) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k += 1) m[r][k] -= f * m[c][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r -= 1) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k += 1) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

function skew(v) {
  return [0, -v[2], v[1], v[2], 0, -v[0], -v[1], v[0], 0];
}

/** fit._rotation_exp: Rodrigues' formula. */
function rotationExp(w) {
  const angle = norm(w);
  if (angle < 1e-12) {
    const k = skew(w);
    return [1 + k[0], k[1], k[2], k[3], 1 + k[4], k[5], k[6], k[7], 1 + k[8]];
  }
  const k = skew(mul(w, 1 / angle));
  const k2 = matMul(k, k);
  const s = Math.sin(angle);
  const c = 1 - Math.cos(angle);
  return [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => (i % 4 === 0 ? 1 : 0) + s * k[i] + c * k2[i]);
}

/** fit._nearest_rotation, by the polar decomposition's Newton iteration (R <- (R + R^-T) / 2) instead of an
 * SVD: the same orthogonal factor for the well-conditioned matrices the landmarker gives; it only seeds the
 * pose fit. */
function nearestRotation(m) {
  let r = m.slice();
  for (let i = 0; i < 20; i += 1) {
    const [a, b, c, d, e, f, g, h, k] = r;
    const det = a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g);
    if (Math.abs(det) < 1e-12) throw new FitError('degenerate facial transformation matrix');
    // inverse transpose = cofactor matrix / det
    const cof = [e * k - f * h, f * g - d * k, d * h - e * g, c * h - b * k, a * k - c * g, b * g - a * h, b * f - c * e, c * d - a * f, a * e - b * d];
    const next = r.map((v, j) => (v + cof[j] / det) / 2);
    const change = Math.max(...next.map((v, j) => Math.abs(v - r[j])));
    r = next;
    if (change < 1e-12) break;
  }
  return r;
}

export class FitError extends Error {}

// ---- camera (fit.Camera) ---------------------------------------------------------------------------------

/** fit.Camera.for_image: centred principal point, `horizontalFovDeg` across the longer side. */
export function cameraForImage(width, height, horizontalFovDeg) {
  const focal = Math.max(width, height) / 2 / Math.tan((horizontalFovDeg * Math.PI) / 180 / 2);
  return { width, height, focal_px: focal, cx: width / 2, cy: height / 2 };
}

/** fit.Camera.projection_matrix, column-major (three.js Matrix4.elements). */
export function projectionMatrix(camera, near = NEAR_M, far = FAR_M) {
  const { width: w, height: h, focal_px: f, cx, cy } = camera;
  return [
    (2 * f) / w, 0, 0, 0,
    0, (2 * f) / h, 0, 0,
    1 - (2 * cx) / w, (2 * cy) / h - 1, -(far + near) / (far - near), -1,
    0, 0, (-2 * far * near) / (far - near), 0,
  ];
}

function project(camera, p) {
  const depth = -p[2];
  return [camera.cx + (camera.focal_px * p[0]) / depth, camera.cy - (camera.focal_px * p[1]) / depth];
}

function ray(camera, pixel) {
  return [(pixel[0] - camera.cx) / camera.focal_px, -(pixel[1] - camera.cy) / camera.focal_px, -1];
}

// ---- the face fit (fit.fit_face) ----------------------------------------------------------------------------

/** fit._translation_for: the translation putting the rotated points on their rays, by weighted least squares
 * (here through its 3x3 normal equations). */
function translationFor(rays, rotated, weights) {
  const ata = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const atb = [0, 0, 0];
  rays.forEach((r, i) => {
    const w = weights[i];
    const rows = [[[1, 0, r[0]], -(rotated[i][0] + r[0] * rotated[i][2])], [[0, 1, r[1]], -(rotated[i][1] + r[1] * rotated[i][2])]];
    for (const [a, b] of rows) {
      for (let j = 0; j < 3; j += 1) {
        atb[j] += w * a[j] * b;
        for (let k = 0; k < 3; k += 1) ata[j][k] += w * a[j] * a[k];
      }
    }
  });
  const t = solve(ata, atb);
  if (t[2] >= 0) throw new FitError('the landmarks put the model behind the camera');
  return t;
}

/** fit._solve_pose: weighted Gauss-Newton on the reprojection error, 6x6 normal equations. */
function solvePose(pixels, points, weights, camera, start, iterations = 10) {
  let rotation = start;
  let translation = translationFor(pixels.map((p) => ray(camera, p)), points.map((p) => matVec(rotation, p)), weights);
  const f = camera.focal_px;
  for (let it = 0; it < iterations; it += 1) {
    const jtj = Array.from({ length: 6 }, () => new Array(6).fill(0));
    const jtr = new Array(6).fill(0);
    points.forEach((point, i) => {
      const turned = matVec(rotation, point);
      const cam = add(turned, translation);
      const depth = -cam[2];
      if (depth <= 0) throw new FitError('the landmarks put the model behind the camera');
      const uv = project(camera, cam);
      const residual = [uv[0] - pixels[i][0], uv[1] - pixels[i][1]];
      const dPixel = [[f / depth, 0, (f * cam[0]) / depth ** 2], [0, -f / depth, (-f * cam[1]) / depth ** 2]];
      const k = skew(turned);
      for (let row = 0; row < 2; row += 1) {
        const d = dPixel[row];
        // d/dw = -d_pixel [R p]x, d/dt = d_pixel
        const jac = [
          -(d[0] * k[0] + d[1] * k[3] + d[2] * k[6]),
          -(d[0] * k[1] + d[1] * k[4] + d[2] * k[7]),
          -(d[0] * k[2] + d[1] * k[5] + d[2] * k[8]),
          d[0], d[1], d[2],
        ];
        for (let a = 0; a < 6; a += 1) {
          jtr[a] += weights[i] * jac[a] * residual[row];
          for (let b = 0; b < 6; b += 1) jtj[a][b] += weights[i] * jac[a] * jac[b];
        }
      }
    });
    const step = solve(jtj, jtr.map((v) => -v));
    rotation = matMul(rotationExp(step.slice(0, 3)), rotation);
    translation = add(translation, step.slice(3));
    if (Math.max(...step.slice(0, 3).map(Math.abs)) < 1e-5 && Math.max(...step.slice(3).map(Math.abs)) < 1e-5 * -translation[2]) break;
  }
  let sum = 0;
  points.forEach((point, i) => {
    const uv = project(camera, add(matVec(rotation, point), translation));
    sum += (uv[0] - pixels[i][0]) ** 2 + (uv[1] - pixels[i][1]) ** 2;
  });
  return { rotation, translation, rms: Math.sqrt(sum / points.length) };
}

/** fit._on_face_plane: canonical points where the rays through `pixels` meet the plane z = planeZ. */
function onFacePlane(camera, pixels, rotation, translation, planeZ) {
  const normal = column(rotation, 2);
  return pixels.map((pixel) => {
    const r = ray(camera, pixel);
    const depth = (dot(normal, translation) + planeZ) / dot(r, normal);
    if (depth <= 0) throw new FitError('a landmark ray misses the face plane (face seen edge-on)');
    return transposeVec(rotation, sub(mul(r, depth), translation));
  });
}

function measurement(value, relative) {
  return { mm: value, sd_mm: value * relative };
}

/**
 * fit.fit_face: head pose, iris-metric scale, PD and face width.
 * @param {{x: number, y: number}[]} landmarks the landmarker's 478 normalized landmarks
 * @param {number[]} matrix its facial transformation matrix, 16 numbers column-major (MediaPipe's layout)
 * @param {object} camera from cameraForImage (the landmarks' image size)
 * @param {object} params GET /api/v1/tryon/fit-parameters
 */
export function fitFace(landmarks, matrix, camera, params) {
  if (landmarks.length !== 478) throw new FitError(`expected 478 face landmarks (with irises), got ${landmarks.length}`);
  const pixel = (i) => [landmarks[i].x * camera.width, landmarks[i].y * camera.height];
  const poseIndex = Object.keys(params.pose_landmarks).map(Number);
  const posePoints = poseIndex.map((i) => params.pose_landmarks[i].slice(0, 3));
  const poseWeights = poseIndex.map((i) => params.pose_landmarks[i][3]);
  const start = nearestRotation([matrix[0], matrix[4], matrix[8], matrix[1], matrix[5], matrix[9], matrix[2], matrix[6], matrix[10]]);
  const { rotation, translation, rms } = solvePose(poseIndex.map(pixel), posePoints, poseWeights, camera, start);

  const irisIndex = [...params.right_iris, ...params.left_iris];
  const iris = onFacePlane(camera, irisIndex.map(pixel), rotation, translation, params.eye_plane_z_m);
  const right = iris.slice(0, 5);
  const left = iris.slice(5);
  const diameters = [norm(sub(right[1], right[3])), norm(sub(left[1], left[3])), norm(sub(right[2], right[4])), norm(sub(left[2], left[4]))];
  const canonicalIris = diameters.reduce((s, v) => s + v, 0) / diameters.length;
  if (!(canonicalIris > 0)) throw new FitError('the iris landmarks have no extent');
  const scale = params.iris_diameter_mm / 1000 / canonicalIris;
  const variance = diameters.reduce((s, v) => s + (v - canonicalIris) ** 2, 0) / (diameters.length - 1);
  const spread = Math.sqrt(variance) / canonicalIris / Math.sqrt(diameters.length);
  const relative = Math.hypot(params.iris_diameter_sd_mm / params.iris_diameter_mm, spread);

  const pupils = [right[0], left[0]];
  const bridgePoint = params.nose_bridge['168'];
  const bridge = [(pupils[0][0] + pupils[1][0]) / 2, (pupils[0][1] + pupils[1][1]) / 2 + bridgePoint[1] - params.eye_centre_y_m, bridgePoint[2]];
  const pdMm = scale * norm(sub(pupils[1], pupils[0])) * 1000;
  const templePlane = params.pose_landmarks[params.temple_landmarks[0]][2];
  const temples = onFacePlane(camera, params.temple_landmarks.map(pixel), rotation, translation, templePlane);
  const widthMm = scale * Math.abs(temples[1][0] - temples[0][0]) * 1000;

  const pose = { rotation, translation_m: mul(translation, scale), scale, rms_px: rms };
  const distance = norm(toCamera(pose, mul(add(pupils[0], pupils[1]), 0.5)));
  const farPdMm = pdMm / (1 - params.eye_rotation_radius_mm / 1000 / distance);
  return {
    pose,
    pd: measurement(pdMm, relative),
    far_pd: measurement(farPdMm, relative),
    face_width: measurement(widthMm, relative),
    distance_m: distance,
    pupils_canonical: pupils,
    nose_bridge_canonical: bridge,
  };
}

/** HeadPose.to_camera: translation + scale * R p. */
export function toCamera(pose, point) {
  return add(pose.translation_m, mul(matVec(pose.rotation, point), pose.scale));
}

/** A rotation (row-major 3x3), a position and a uniform scale as a column-major 4x4. */
function matrix4(rotation, position, scale = 1) {
  const r = rotation.map((v) => v * scale);
  return [r[0], r[3], r[6], 0, r[1], r[4], r[7], 0, r[2], r[5], r[8], 0, position[0], position[1], position[2], 1];
}

/** HeadPose.matrix: the occluder's 4x4 (canonical face -> camera, scale included). */
export function headMatrix(fit) {
  return matrix4(fit.pose.rotation, fit.pose.translation_m, fit.pose.scale);
}

/** fit._square: unit `exact`, and the unit part of `hint` square to it. */
function square(exact, hint) {
  const a = mul(exact, 1 / norm(exact));
  const b = sub(hint, mul(a, dot(hint, a)));
  const n = norm(b);
  if (n < 1e-9) throw new FitError('degenerate frame: two directions are parallel');
  return [a, mul(b, 1 / n)];
}

/** fit._frame: +Y exactly along yHint, +Z as close to z as that allows. */
function frame(z, yHint) {
  const [y, zz] = square(yHint, z);
  return fromColumns(cross(y, zz), y, zz);
}

/** fit.glasses_transform */
export function glassesTransform(fit) {
  return matrix4(fit.pose.rotation, toCamera(fit.pose, fit.nose_bridge_canonical));
}

/** fit.hat_transform */
export function hatTransform(fit, params) {
  const tilt = rotationExp([(-params.hat_opening_tilt_deg * Math.PI) / 180, 0, 0]);
  return matrix4(matMul(fit.pose.rotation, tilt), toCamera(fit.pose, params.hat_opening_centre));
}

/** fit.earring_transforms: [{node, matrix, visible}] for EarringL then EarringR. */
export function earringTransforms(fit, params) {
  const up = [0, 1, 0];
  return ['left', 'right'].map((side) => {
    const position = toCamera(fit.pose, params.earlobes[side]);
    const outward = mul(column(fit.pose.rotation, 0), side === 'left' ? 1 : -1);
    const towardsCamera = mul(position, -1 / norm(position));
    const visible = dot(outward, towardsCamera) > -Math.sin((params.ear_visible_past_edge_on_deg * Math.PI) / 180);
    return { node: EARRING_NODES[side], matrix: matrix4(frame(outward, up), position), visible };
  });
}

/** fit.necklace_transform */
export function necklaceTransform(fit, params) {
  const upright = frame(column(fit.pose.rotation, 2), [0, 1, 0]);
  const chin = toCamera(fit.pose, params.chin['152']);
  return matrix4(upright, add(chin, mul(matVec(upright, params.necklace_from_chin), fit.pose.scale)));
}

/** fit.frame_size_advice */
export function frameSizeAdvice(faceWidth, frameWidthMm, params) {
  const tolerance = params.frame_fit_tolerance_mm + faceWidth.sd_mm;
  const difference = frameWidthMm - faceWidth.mm;
  const size = difference < -tolerance ? 'narrow' : difference > tolerance ? 'wide' : 'medium';
  return { size, frame_width_mm: frameWidthMm, difference_mm: difference, tolerance_mm: tolerance };
}

/** The items of a face category as the stream sends them: [{node, matrix, visible}]. */
export function faceItems(category, fit, params) {
  if (category === 'glasses' || category === 'sunglasses') return [{ node: null, matrix: glassesTransform(fit), visible: true }];
  if (category === 'hat') return [{ node: null, matrix: hatTransform(fit, params), visible: true }];
  if (category === 'necklace') return [{ node: null, matrix: necklaceTransform(fit, params), visible: true }];
  if (category === 'earrings') return earringTransforms(fit, params);
  throw new FitError(`category ${category} is not worn on the face`);
}

// ---- One Euro smoothing (smoothing.py) ------------------------------------------------------------------------

function alpha(cutoffHz, dt) {
  const tau = 1 / (2 * Math.PI * cutoffHz);
  return 1 / (1 + tau / dt);
}

/** smoothing.OneEuroFilter of a vector signal. */
export class OneEuroFilter {
  constructor(minCutoffHz = 1, beta = 0.5, dCutoffHz = 1) {
    Object.assign(this, { minCutoffHz, beta, dCutoffHz });
    this.value = null;
  }

  filter(x, timeS) {
    if (this.value === null) {
      Object.assign(this, { value: x.slice(), speed: x.map(() => 0), time: timeS });
      return this.value.slice();
    }
    if (timeS <= this.time) return this.value.slice();
    const dt = timeS - this.time;
    const aD = alpha(this.dCutoffHz, dt);
    this.speed = x.map((v, i) => aD * ((v - this.value[i]) / dt) + (1 - aD) * this.speed[i]);
    const cutoff = this.minCutoffHz + this.beta * Math.hypot(...this.speed);
    const a = alpha(cutoff, dt);
    this.value = x.map((v, i) => a * v + (1 - a) * this.value[i]);
    this.time = timeS;
    return this.value.slice();
  }
}

/** smoothing.PoseFilter's defaults (a product on a face at arm's length). */
const POSE_FILTER = { minCutoffHz: 0.5, positionBeta: 30, rotationBeta: 6, dCutoffHz: 1 };

/** smoothing.PoseFilter of a head pose (rotation as a quaternion, position), plus its scale as the stream does
 * (immersive/tryon/stream.py: one filter for the head, so the occluder and the items move together). */
export class HeadPoseFilter {
  constructor() {
    this.position = new OneEuroFilter(POSE_FILTER.minCutoffHz, POSE_FILTER.positionBeta, POSE_FILTER.dCutoffHz);
    this.rotation = new OneEuroFilter(POSE_FILTER.minCutoffHz, POSE_FILTER.rotationBeta, POSE_FILTER.dCutoffHz);
    this.scale = new OneEuroFilter(0.5, 0, 1);
    this.lastQ = null;
  }

  filter(fit, timeS) {
    const m = new THREE.Matrix4().fromArray(matrix4(fit.pose.rotation, [0, 0, 0]));
    const q = new THREE.Quaternion().setFromRotationMatrix(m);
    let wxyz = [q.w, q.x, q.y, q.z];
    if (this.lastQ && dot4(wxyz, this.lastQ) < 0) wxyz = wxyz.map((v) => -v); // the same rotation, near the last
    wxyz = this.rotation.filter(wxyz, timeS);
    const length = Math.hypot(...wxyz);
    wxyz = wxyz.map((v) => v / length);
    this.lastQ = wxyz;
    const e = new THREE.Matrix4().makeRotationFromQuaternion(new THREE.Quaternion(wxyz[1], wxyz[2], wxyz[3], wxyz[0])).elements;
    const rotation = [e[0], e[4], e[8], e[1], e[5], e[9], e[2], e[6], e[10]];
    const pose = {
      ...fit.pose,
      rotation,
      translation_m: this.position.filter(fit.pose.translation_m, timeS),
      scale: this.scale.filter([fit.pose.scale], timeS)[0],
    };
    return { ...fit, pose };
  }
}

const dot4 = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];

// ---- the view: the product over the camera video ----------------------------------------------------------------

const CLEAR_LENS_OPACITY = 0.08; // a clear lens still shows a faint sheen

/**
 * The canvas is transparent over the video, so three.js' transmission (which refracts what the scene renders
 * behind the object) would show an empty scene: milky lenses. Transmissive materials become alpha-blended
 * instead: the video shows through, tinted by the lens's colour as much as it transmits.
 */
function seeThrough(root) {
  root.traverse((object) => {
    if (!object.isMesh) return;
    for (const material of Array.isArray(object.material) ? object.material : [object.material]) {
      if (!material?.transmission) continue;
      material.opacity = Math.max(1 - material.transmission, CLEAR_LENS_OPACITY) * material.opacity;
      material.transmission = 0;
      material.transparent = true;
      material.depthWrite = false;
      material.needsUpdate = true;
    }
  });
}

/**
 * Draws the product over a video: a transparent WebGL canvas the size of the video's box, the camera at the
 * origin with the frame's projection, the product placed by the transforms, and the head occluder drawn into
 * the depth buffer only (the temples behind the head are hidden; the video shows through it).
 */
export class TryOnView extends EventTarget {
  constructor(container, { base } = {}) {
    super();
    this.container = container;
    const renderer = new THREE.WebGLRenderer({ antialias: true, alpha: true, preserveDrawingBuffer: true });
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    renderer.outputColorSpace = THREE.SRGBColorSpace;
    renderer.toneMapping = THREE.NeutralToneMapping;
    renderer.setClearColor(0x000000, 0);
    container.appendChild(renderer.domElement);
    this.renderer = renderer;
    this.scene = new THREE.Scene();
    const pmrem = new THREE.PMREMGenerator(renderer);
    this.environment = pmrem.fromScene(new RoomEnvironment(), 0.04).texture;
    pmrem.dispose();
    this.scene.environment = this.environment;
    this.camera = new THREE.PerspectiveCamera();
    this.camera.matrixAutoUpdate = false; // at the origin, looking down -Z: camera space is world space
    const paths = decoderPaths(base);
    this.loader = new GLTFLoader()
      .setDRACOLoader(new DRACOLoader().setDecoderPath(paths.draco))
      .setKTX2Loader(new KTX2Loader().setTranscoderPath(paths.basis).detectSupport(renderer))
      .setMeshoptDecoder(MeshoptDecoder);
    this.product = null;
    this.gltf = null;
    this.occluder = null;
    this.frames = 0;
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.resize();
  }

  resize() {
    const width = Math.max(this.container.clientWidth, 1);
    const height = Math.max(this.container.clientHeight, 1);
    this.renderer.setSize(width, height, false);
    this.renderer.domElement.style.width = '100%';
    this.renderer.domElement.style.height = '100%';
    if (this.frames) this.render(); // a resize clears the drawing buffer: draw the last placement again
  }

  /** Loads the product's model (the try-on spec's frame: its origin is the anchor) and hides it until placed. */
  async loadProduct(url, variant = null) {
    const gltf = await this.loader.loadAsync(url);
    if (this.product) this.scene.remove(this.product);
    this.gltf = gltf;
    this.product = gltf.scene;
    this.product.matrixAutoUpdate = false;
    this.product.visible = false;
    this.scene.add(this.product);
    if (variant) await selectVariant(gltf, variant);
    seeThrough(this.product);
    return variantNames(gltf);
  }

  async selectVariant(name) {
    await selectVariant(this.gltf, name);
    seeThrough(this.product);
    this.render();
  }

  /** The head occluder (samples/head_occluder.glb: canonical face frame, metres): depth only, drawn first. */
  async loadOccluder(url) {
    const gltf = await this.loader.loadAsync(url);
    const occluder = gltf.scene;
    occluder.traverse((object) => {
      if (!object.isMesh) return;
      object.material = new THREE.MeshBasicMaterial({ colorWrite: false, depthWrite: true });
      object.renderOrder = -1;
    });
    occluder.matrixAutoUpdate = false;
    occluder.visible = false;
    this.occluder = occluder;
    this.scene.add(occluder);
  }

  /**
   * Places everything for one frame: `result` = {camera: {projection (column-major)}, items: [{node, matrix,
   * visible}], occluder: column-major 4x4 | null}. No items: the product is hidden.
   */
  update(result) {
    this.camera.projectionMatrix.fromArray(result.camera.projection);
    this.camera.projectionMatrixInverse.copy(this.camera.projectionMatrix).invert();
    const product = this.product;
    if (product) {
      product.visible = result.items.length > 0;
      for (const item of result.items) {
        if (item.node === null) {
          product.matrix.fromArray(item.matrix);
        } else {
          // A node placed on its own (earrings): its world matrix is the item's, under a product at the origin.
          product.matrix.identity();
          const node = product.getObjectByName(item.node);
          if (!node) continue;
          node.parent.updateWorldMatrix(true, false);
          node.matrixAutoUpdate = false;
          node.matrix.copy(node.parent.matrixWorld).invert().multiply(new THREE.Matrix4().fromArray(item.matrix));
          node.visible = item.visible;
        }
      }
      product.matrixWorldNeedsUpdate = true;
    }
    if (this.occluder) {
      this.occluder.visible = Boolean(result.occluder);
      if (result.occluder) this.occluder.matrix.fromArray(result.occluder);
      this.occluder.matrixWorldNeedsUpdate = true;
    }
    this.render();
  }

  render() {
    this.renderer.render(this.scene, this.camera);
    this.frames += 1;
    this.dispatchEvent(new Event('render'));
  }

  dispose() {
    this.resizeObserver.disconnect();
    this.environment.dispose();
    this.renderer.dispose();
    this.renderer.domElement.remove();
  }
}

// ---- where the transforms come from -------------------------------------------------------------------------------

/**
 * On-device tracking: the Face Landmarker (VIDEO mode) in this browser on the video's frames, the fit above and
 * One Euro smoothing of the head pose. Each result has the shape of the stream's replies (immersive/tryon/stream.py),
 * so the page treats both alike. Nothing leaves the device: the only requests are for the module, its wasm, the
 * model and the fit parameters.
 */
export class DeviceTracking extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.base service base
   * @param {{sku: string, category: string, frameWidthMm: number|null}} options.product
   * @param {object} options.params the fit constants (GET /api/v1/tryon/parameters -> .fit)
   * @param {string} options.modelUrl face_landmarker.task as the service serves it (-> .models[name].url)
   */
  constructor({ base, product, params, modelUrl }) {
    super();
    Object.assign(this, { base, product, params, modelUrl });
    this.filter = new HeadPoseFilter();
    this.running = false;
    this.frames = 0;
    this.framesWithFace = 0;
  }

  static supports(category) {
    return FACE_CATEGORIES.includes(category);
  }

  async start(video) {
    const paths = tasksVisionPaths(this.base);
    const { FilesetResolver, FaceLandmarker } = await import(paths.module);
    const fileset = await FilesetResolver.forVisionTasks(paths.wasm);
    this.landmarker = await FaceLandmarker.createFromOptions(fileset, {
      baseOptions: { modelAssetPath: this.modelUrl, delegate: 'CPU' },
      runningMode: 'VIDEO',
      numFaces: 1,
      outputFacialTransformationMatrixes: true,
    });
    this.video = video;
    this.running = true;
    this.#next();
  }

  #next() {
    if (!this.running) return;
    if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(() => this.#frame());
    else requestAnimationFrame(() => this.#frame());
  }

  #frame() {
    if (!this.running) return;
    const started = performance.now();
    const video = this.video;
    const result = this.landmarker.detectForVideo(video, started);
    const tracked = performance.now();
    this.frames += 1;
    const camera = cameraForImage(video.videoWidth, video.videoHeight, this.params.default_horizontal_fov_deg);
    const reply = {
      type: 'frame', seq: this.frames, sku: this.product.sku, face: false, items: [], occluder: null, measurements: null,
      camera: { ...camera, near: NEAR_M, far: FAR_M, projection: projectionMatrix(camera) },
    };
    const landmarks = result.faceLandmarks[0];
    if (landmarks) {
      reply.face = true;
      this.framesWithFace += 1;
      try {
        const measured = fitFace(landmarks, result.facialTransformationMatrixes[0].data, camera, this.params);
        const smoothed = this.filter.filter(measured, started / 1000);
        reply.items = faceItems(this.product.category, smoothed, this.params);
        reply.occluder = headMatrix(smoothed);
        reply.measurements = {
          pd: measured.pd, far_pd: measured.far_pd, face_width: measured.face_width, distance_m: measured.distance_m,
          frame_size: this.product.frameWidthMm ? frameSizeAdvice(measured.face_width, this.product.frameWidthMm, this.params) : null,
        };
      } catch (error) {
        if (!(error instanceof FitError)) throw error;
        reply.fit_error = error.message;
      }
    } else {
      this.filter = new HeadPoseFilter(); // the next face may be someone else's
    }
    reply.timing = { track_ms: tracked - started, fit_ms: performance.now() - tracked };
    this.dispatchEvent(new CustomEvent('frame', { detail: reply }));
    this.#next();
  }

  stop() {
    this.running = false;
    this.landmarker?.close();
    this.landmarker = null;
  }
}

/**
 * The kiosk stream client: JPEG frames of the video to the service's WebSocket, its replies as 'frame' events.
 * At most `inFlight` frames are sent past the last one answered (the server keeps only the newest of those
 * anyway: it drops frames that arrive while one is processed, never queues them).
 */
export class KioskStreamClient extends EventTarget {
  constructor({ base, merchant, sku, variant = null, width = 640, quality = 0.8, inFlight = 2 }) {
    super();
    Object.assign(this, { base, merchant, sku, variant, width, quality, inFlight });
    this.sent = 0;
    this.answered = 0;
    this.frames = 0;
    this.framesWithFace = 0;
    this.last = null;
    this.running = false;
  }

  start(video) {
    this.video = video;
    this.canvas = document.createElement('canvas');
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(tryonStreamUrl(this.base, this.merchant, this.sku, this.variant));
      socket.binaryType = 'arraybuffer';
      this.socket = socket;
      socket.addEventListener('message', (event) => {
        const message = JSON.parse(event.data);
        if (message.type === 'ready') {
          this.ready = message;
          this.running = true;
          resolve(message);
          this.#pump();
        } else if (message.type === 'frame') {
          this.answered = message.seq;
          this.frames += 1;
          if (message.face) this.framesWithFace += 1;
          this.last = message;
          this.dispatchEvent(new CustomEvent('frame', { detail: message }));
          this.#pump();
        } else {
          this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
        }
      });
      socket.addEventListener('close', (event) => {
        const wasRunning = this.running;
        this.running = false;
        this.closed = { code: event.code, reason: event.reason };
        if (!wasRunning) reject(new Error(`the try-on stream closed (${event.code}): ${event.reason || 'no reason given'}`));
        this.dispatchEvent(new CustomEvent('close', { detail: this.closed }));
      });
    });
  }

  /** Sends a control message: {type: 'product', sku, variant} or {type: 'camera', horizontal_fov_deg}. */
  control(message) {
    this.socket.send(JSON.stringify(message));
  }

  // Captures and sends frames while fewer than `inFlight` wait for an answer; called on every answer and on
  // every new video frame.
  #pump() {
    if (!this.running || this.capturing) return;
    if (this.sent - this.answered >= this.inFlight) return;
    const video = this.video;
    if (video.readyState < 2 || !video.videoWidth) {
      requestAnimationFrame(() => this.#pump());
      return;
    }
    const height = Math.round((this.width * video.videoHeight) / video.videoWidth);
    if (this.canvas.width !== this.width) Object.assign(this.canvas, { width: this.width, height });
    this.canvas.getContext('2d').drawImage(video, 0, 0, this.width, height);
    this.capturing = true;
    this.canvas.toBlob((blob) => {
      this.capturing = false;
      if (!this.running || !blob) return;
      this.socket.send(blob);
      this.sent += 1;
      const next = () => this.#pump();
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(next);
      else requestAnimationFrame(next);
    }, 'image/jpeg', this.quality);
  }

  stop() {
    this.running = false;
    this.socket?.close(1000, 'try-on ended');
  }
}
