// The browser's fit (web_viewer/js/features/tryon.js) on landmarks that pytest recorded, run under node (the
// fit is plain math; three.js only builds quaternions for the smoothing).
//   node tests/browser/tryon_fit_parity.mjs INPUT.json
// INPUT: {params: fit_parameters(), frameWidthMm, faces: [{landmarks: [[x, y, z], ...], matrix: [16, column-major],
// width, height, fov, time}]}. Prints one JSON line: per face the transforms (column-major), measurements and the
// One Euro-smoothed head matrix over the sequence.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const tryon = await import(pathToFileURL(path.resolve(HERE, '../../web_viewer/js/features/tryon.js')).href);

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const smoothing = new tryon.HeadPoseFilter();
const faces = input.faces.map((face) => {
  const camera = tryon.cameraForImage(face.width, face.height, face.fov);
  const landmarks = face.landmarks.map(([x, y, z]) => ({ x, y, z }));
  const fit = tryon.fitFace(landmarks, face.matrix, camera, input.params);
  const items = Object.fromEntries(['glasses', 'hat', 'necklace', 'earrings'].map((category) => [category, tryon.faceItems(category, fit, input.params)]));
  return {
    projection: tryon.projectionMatrix(camera),
    items,
    head: tryon.headMatrix(fit),
    rms_px: fit.pose.rms_px,
    pd: fit.pd,
    far_pd: fit.far_pd,
    face_width: fit.face_width,
    distance_m: fit.distance_m,
    frame_size: tryon.frameSizeAdvice(fit.face_width, input.frameWidthMm, input.params),
    smoothed_head: tryon.headMatrix(smoothing.filter(fit, face.time)),
  };
});
process.stdout.write(JSON.stringify({ faces }) + '\n');
