// WebXR AR of a wall product on a phone, through the product page: the emulated ARCore phone
// (xr_runtime.mjs) stands in a recorded room; pointed at the floor it finds nothing to hang the product on
// (the reticle stays hidden), raised to face a wall the reticle lies on the wall, a tap hangs the product
// there, a drag turns it about the wall's normal, the exit button ends the session; the analytics events
// are flushed to the service.
//
// The product is measured against the capture's own wall plane (not against what the viewer computed): the
// world-space extent of its vertices along the wall's axes (right, up, the normal into the room) and their
// signed distances from the wall.
//
// args: {base, merchant, sku, artifacts (folder for the AR frame screenshots), room?}
// result: the measurements below; pytest compares them with the product's real size and the wall.
import path from 'node:path';

import { flushAnalytics, waitReady } from './viewer_page.mjs';
import { installXR, yawPitch } from './xr_runtime.mjs';
import { dragAcross, poseDevice, press, setPlacedVisible, xrFrames } from './xr_steps.mjs';

// Held at 1.4 m, facing the room's +Z, tilted 52° down at the floor (as in ar_phone.mjs).
const AT_FLOOR = { position: [0, 1.4, 0], yaw: Math.PI, pitch: -0.9 };
// Held level at 1.3 m facing the room's +Z: the centre ray meets the wall ~1.4 m ahead, below the
// capture's WALL_ART plane (which starts at 1.44 m).
const AT_WALL = { position: [0, 1.3, 0], yaw: Math.PI, pitch: 0 };
// Frames the reticle gets to find a surface while the phone points at the floor. (The emulator answers the
// session's very first hit test from its default pose, level at 1.6 m: the reticle may show for that frame.)
const FLOOR_FRAMES = 20;

const pose = ({ position, yaw, pitch }) => ({ position, quaternion: yawPitch(yaw, pitch) });

/** The direction a device posed with yawPitch(yaw, pitch) looks along (its -Z). */
function lookDirection({ yaw, pitch }) {
  return [-Math.sin(yaw) * Math.cos(pitch), Math.sin(pitch), -Math.cos(yaw) * Math.cos(pitch)];
}

const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const sub = (a, b) => a.map((v, i) => v - b[i]);

/** The wall the device's centre ray meets first (the wall faces it), with the point where it meets it. */
function facedWall(walls, device) {
  const origin = device.position;
  const direction = lookDirection(device);
  let best = null;
  for (const wall of walls) {
    const facing = dot(direction, wall.normal);
    if (facing >= 0) continue; // the ray runs away from (or along) this wall's front
    const t = dot(sub(wall.point, origin), wall.normal) / facing;
    if (t > 0 && (!best || t < best.distance)) best = { wall, distance: t, point: origin.map((o, i) => o + t * direction[i]) };
  }
  if (!best) throw new Error('the device faces no wall of the capture');
  return best;
}

/** Orthonormal axes of a wall: right (along it, horizontal), up (vertical in it), normal (into the room). */
function wallAxes(wall) {
  const n = wall.normal;
  const up = sub([0, 1, 0], n.map((v) => v * n[1]));
  const length = Math.hypot(...up);
  const u = up.map((v) => v / length);
  const right = [u[1] * n[2] - u[2] * n[1], u[2] * n[0] - u[0] * n[2], u[0] * n[1] - u[1] * n[0]];
  return { origin: wall.point, right, up: u, normal: n };
}

/**
 * The placed product against the wall: the range [min, max] (metres) of its world-space vertices along the
 * wall's right, up and normal axes, measured from the wall plane; the world directions of its front (+Z)
 * and up (+Y); the world scale; the world-axis bounding box (for the record: a wall not aligned with the
 * room's axes makes that box deeper than the product).
 */
async function measureOnWall(page, axes) {
  return page.evaluate(async (frame) => {
    const THREE = await import('three');
    const xr = window.__immersive.xr;
    xr.content.updateMatrixWorld(true);
    const origin = new THREE.Vector3(...frame.origin);
    const dirs = ['right', 'up', 'normal'].map((k) => new THREE.Vector3(...frame[k]));
    const ranges = dirs.map(() => [Infinity, -Infinity]);
    const v = new THREE.Vector3();
    xr.model.traverse((node) => {
      if (!node.isMesh) return;
      const positions = node.geometry.getAttribute('position');
      for (let i = 0; i < positions.count; i += 1) {
        v.fromBufferAttribute(positions, i).applyMatrix4(node.matrixWorld).sub(origin);
        dirs.forEach((d, k) => {
          const s = v.dot(d);
          ranges[k][0] = Math.min(ranges[k][0], s);
          ranges[k][1] = Math.max(ranges[k][1], s);
        });
      }
    });
    const world = new THREE.Box3().setFromObject(xr.model, true);
    return {
      right: ranges[0], up: ranges[1], normal: ranges[2],
      front: new THREE.Vector3(0, 0, 1).transformDirection(xr.model.matrixWorld).toArray(),
      upright: new THREE.Vector3(0, 1, 0).transformDirection(xr.model.matrixWorld).toArray(),
      scale: new THREE.Vector3().setFromMatrixScale(xr.model.matrixWorld).toArray(),
      position: new THREE.Vector3().setFromMatrixPosition(xr.content.matrixWorld).toArray(),
      worldBoxSize: world.getSize(new THREE.Vector3()).toArray(),
      frames: xr.frames,
    };
  }, axes);
}

/** Where the reticle lies and which way its ring faces (the ring's normal is its local +Y). */
async function reticleState(page) {
  return page.evaluate(async () => {
    const THREE = await import('three');
    const reticle = window.__immersive.xr.reticle;
    const position = new THREE.Vector3();
    const rotation = new THREE.Quaternion();
    reticle.matrix.decompose(position, rotation, new THREE.Vector3());
    return { visible: reticle.visible, position: position.toArray(), normal: new THREE.Vector3(0, 1, 0).applyQuaternion(rotation).toArray() };
  });
}

export default async function arWall(ctx, { base, merchant, sku, artifacts, room = 'office_small' }) {
  const page = await ctx.newPage({ viewport: { width: 480, height: 800 } }, 'ar-wall');
  const { walls } = await installXR(page, { nodeModules: ctx.nodeModules, device: 'phone', room, pose: pose(AT_FLOOR) });
  const target = facedWall(walls, AT_WALL);
  const axes = wallAxes(target.wall);
  await page.goto(`${base}/p/${merchant}/${sku}`);
  await waitReady(page);
  const button = page.locator('immersive-product .ar');
  await button.waitFor({ state: 'visible' });
  const offeredMode = await button.getAttribute('data-mode');
  const product = await page.evaluate(() => {
    const { dimensions_m: dimensions, placement } = document.querySelector('immersive-product').product;
    return { dimensions, placement };
  });

  await button.click();
  await page.waitForFunction(() => window.__immersive.xr?.running);
  const session = await page.evaluate(() => {
    const xr = window.__immersive.xr;
    return { blend: xr.session.environmentBlendMode, surface: xr.surface, referenceSpace: xr.referenceSpaceType };
  });

  // Pointed at the floor: nothing to hang a wall product on.
  await xrFrames(page, FLOOR_FRAMES);
  const atFloor = {
    status: await page.evaluate(() => window.__immersive.xr.status),
    hint: await page.locator('immersive-product .overlay .hint').textContent(),
    reticleShown: await page.evaluate(() => window.__immersive.xr.reticle.visible),
  };

  // Raised to face the wall: the reticle lies on it.
  await poseDevice(page, AT_WALL.position, yawPitch(AT_WALL.yaw, AT_WALL.pitch));
  await page.waitForFunction(() => window.__immersive.xr.status === 'ready');
  await xrFrames(page, 2);
  const atWall = {
    hint: await page.locator('immersive-product .overlay .hint').textContent(),
    reticle: await reticleState(page),
  };

  // Tap (the emulated controller's trigger, an XR select like a screen tap): the product goes on the wall.
  await press(page);
  await page.waitForFunction(() => window.__immersive.xr.placed);
  await xrFrames(page, 3);
  const placed = await measureOnWall(page, axes);
  const framePath = path.join(artifacts, 'ar_wall_frame.png');
  await page.screenshot({ path: framePath });
  await setPlacedVisible(page, false);
  const withoutPath = path.join(artifacts, 'ar_wall_frame_without_model.png');
  await page.screenshot({ path: withoutPath });
  await setPlacedVisible(page, true);

  // Drag a third of the screen width on the overlay: a quarter turn about the wall's normal.
  await dragAcross(page, 1 / 3);
  const turned = await measureOnWall(page, axes);

  await page.locator('immersive-product .overlay .exit').evaluate((exit) => exit.click()); // under the emulator's canvas
  await page.waitForFunction(() => !window.__immersive.xr);
  const analyticsSession = await flushAnalytics(page);
  return {
    offeredMode, product, session, atFloor, atWall, placed, turned, analyticsSession,
    device: { position: AT_WALL.position, looking: lookDirection(AT_WALL) },
    wall: { ...axes, rayPoint: target.point }, // the faced wall: origin (a point on it), right, up, normal
    screenshots: { frame: framePath, without: withoutPath },
  };
}
