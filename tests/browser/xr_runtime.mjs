// The emulated WebXR device of the XR scenarios: npm `iwer` (Meta's Immersive Web Emulation Runtime) with
// `@iwer/sem` and one of its recorded rooms, put into a page BEFORE any of the page's scripts run
// (page.addInitScript with the packages' browser builds), so the viewer finds an XR device on
// navigator.xr as it would on a phone or a headset.
//
// The room is one of @iwer/sem's own captures (captures/*.json: a Quest 3 scan with its planes, boxes and
// global mesh; loadDefaultEnvironment() would download it and fails offline). SEM answers hit tests by
// ray-casting that room, and draws it behind the page's canvas as the "camera passthrough".
//
// In the page: window.__iwer is the XRDevice (pose, controllers, hands); window.__iwerRoom the capture's
// summary {floorY}.
import fs from 'node:fs';
import path from 'node:path';

// Device profiles. `phone` stands for an ARCore phone in Chrome: immersive-ar with hit test, no
// immersive-vr (so the viewer offers WebXR AR, not the headset view). It keeps the emulator's right
// controller, whose trigger plays the part of a tap on the screen (both reach the page as an XR `select`).
const PHONE_USER_AGENT = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36';
const DEVICES = {
  phone: `{ ...IWER.metaQuest3, name: 'ARCore phone (emulated)', supportedSessionModes: ['inline', 'immersive-ar'],
            supportedFeatures: ['viewer', 'local', 'local-floor', 'hit-test', 'anchors'], userAgent: ${JSON.stringify(PHONE_USER_AGENT)} }`,
  quest3: 'IWER.metaQuest3',
  // A headset without passthrough: the viewer's headset view then runs immersive-vr.
  'vr-headset': `{ ...IWER.metaQuest3, name: 'VR headset (emulated)', supportedSessionModes: ['inline', 'immersive-vr'] }`,
};

/** The floor height of a capture: its FLOOR plane's y (metres, the room's global frame = local-floor). */
export function captureFloorY(capture) {
  const floors = capture.spatialEntities.filter((entity) => entity.semanticLabel_META === 'FLOOR');
  if (floors.length !== 1) throw new Error(`expected one FLOOR plane in the capture, found ${floors.length}`);
  return floors[0].locatable_META.position.y;
}

/**
 * The wall planes of a capture (WALL_FACE): a point on each and its unit normal into the room (metres, the
 * room's global frame). SEM builds a plane's surface in its entity's local XZ plane, front side -Y (that is
 * what its hit test meets: the FLOOR's turns to +Y).
 */
export function captureWalls(capture) {
  return capture.spatialEntities.filter((entity) => entity.semanticLabel_META === 'WALL_FACE').map((entity) => {
    const { position: p, orientation: q } = entity.locatable_META;
    // (0, -1, 0) turned by q: minus the second column of q's rotation matrix
    const normal = [-2 * (q.x * q.y - q.w * q.z), -(1 - 2 * (q.x * q.x + q.z * q.z)), -2 * (q.y * q.z + q.w * q.x)];
    const length = Math.hypot(...normal);
    return { point: [p.x, p.y, p.z], normal: normal.map((v) => v / length) };
  });
}

/**
 * Adds the emulated device to every document the page loads.
 * @param {import('playwright-core').Page} page
 * @param {object} options
 * @param {string} options.nodeModules web_viewer/node_modules
 * @param {'phone'|'quest3'|'vr-headset'} options.device
 * @param {string|null} [options.room='office_small'] a capture of @iwer/sem; null: no room and no
 *   @iwer/sem, so the device cannot hit-test (requestHitTestSource fails), as one that cannot track surfaces
 * @param {{position: number[], quaternion: number[]}} [options.pose] the device's starting pose
 * @returns {Promise<{floorY: number|null, walls: object[]}>} what the tests compare with (see captureWalls)
 */
export async function installXR(page, { nodeModules, device, room = 'office_small', pose = null }) {
  if (!DEVICES[device]) throw new Error(`unknown device ${device}`);
  const read = (relative) => fs.readFileSync(path.join(nodeModules, relative), 'utf8');
  const captureText = room ? read(`@iwer/sem/captures/${room}.json`) : null;
  const capture = room ? JSON.parse(captureText) : null;
  const floorY = room ? captureFloorY(capture) : null;
  const walls = room ? captureWalls(capture) : [];
  const setup = `
;(() => {
  const device = new IWER.XRDevice(${DEVICES[device]});
  device.installRuntime({ forceInstall: true }); // headless Chromium has a navigator.xr of its own
  ${room ? `device.installSEM(IWER_SEM.SyntheticEnvironmentModule);
  device.sem.loadEnvironment(${captureText});` : ''}
  const pose = ${JSON.stringify(pose)};
  if (pose) {
    device.position.set(...pose.position);
    device.quaternion.set(...pose.quaternion);
  }
  window.__iwer = device;
  window.__iwerRoom = { floorY: ${floorY} };
})();`;
  const sem = room ? read('@iwer/sem/build/iwer-sem.min.js') : '';
  await page.addInitScript({ content: `${read('iwer/build/iwer.min.js')}\n${sem}\n${setup}` });
  return { floorY, walls };
}

/** A quaternion [x, y, z, w] for a device turned by `yaw` about +Y then pitched by `pitch` (radians). */
export function yawPitch(yaw, pitch) {
  const [cy, sy, cp, sp] = [Math.cos(yaw / 2), Math.sin(yaw / 2), Math.cos(pitch / 2), Math.sin(pitch / 2)];
  // q = qYaw(Y) * qPitch(X)
  return [cy * sp, sy * cp, -sy * sp, cy * cp];
}
