// The viewer's studio light, pre-baked: three.js' PMREM of its RoomEnvironment (a neutral softbox room),
// made once by web_viewer/tools/bake-environment.mjs instead of on every page load (compiling and running
// the PMREM shaders costs ~1.3 s on software GL). This module imports no three.js, so that the element can
// start the download before three.js has loaded; viewer.js turns the texels into the texture.
//
// File (gzip): uint32 little-endian N, N bytes of JSON header {format: "immersive-pmrem", version: 1, size,
// levels, three, sigma} (space-padded so the texels start 4-byte aligned), then the texels: half floats,
// linear sRGB, RGB, for each mip level (size, size/2, ... `levels` of them), each cube face (+X, -X, +Y,
// -Y, +Z, -Z), rows bottom to top, in the convention of a cube map made from data (three mirrors those in
// x when sampling, unlike its own render targets; the baker stored the faces accordingly). Each value is
// stored as its difference (modulo 2^16, on the half-float bits) to the prediction left + below -
// below-left in its face and channel: smooth light compresses ten-fold, and the decoding is exact.
import { studioLightUrl } from './api.js';

const HALF_ONE = 0x3c00; // 1.0 as a half float: the alpha of every texel, as in the PMREM

/**
 * Downloads and decodes the studio light: {size, levels: [{width, faces: [Uint16Array RGBA half floats x 6]}]}.
 * @param {string} [base] service base
 */
export async function fetchStudioLight(base) {
  const url = studioLightUrl(base);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`studio light ${url}: HTTP ${response.status}`);
  const bytes = await new Response(response.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
  return decodeStudioLight(bytes, url);
}

function decodeStudioLight(bytes, url) {
  const headerLength = new DataView(bytes).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(bytes, 4, headerLength)));
  if (header.format !== 'immersive-pmrem' || header.version !== 1) throw new Error(`studio light ${url}: not an immersive-pmrem v1 file`);
  const residuals = new Uint16Array(bytes, 4 + headerLength);
  const levels = [];
  let offset = 0;
  for (let level = 0; level < header.levels; level += 1) {
    const width = header.size >> level;
    const faces = [];
    for (let face = 0; face < 6; face += 1) {
      const texels = new Uint16Array(width * width * 4);
      for (let y = 0; y < width; y += 1) {
        for (let x = 0; x < width; x += 1) {
          const i = (y * width + x) * 4;
          for (let c = 0; c < 3; c += 1) {
            const left = x > 0 ? texels[i - 4 + c] : 0;
            const below = y > 0 ? texels[i - width * 4 + c] : 0;
            const prediction = x > 0 && y > 0 ? left + below - texels[i - width * 4 - 4 + c] : left + below;
            texels[i + c] = (residuals[offset++] + prediction) & 0xffff;
          }
          texels[i + 3] = HALF_ONE;
        }
      }
      faces.push(texels);
    }
    levels.push({ width, faces });
  }
  if (offset !== residuals.length) throw new Error(`studio light ${url}: ${residuals.length} values for ${offset} texel channels`);
  return { size: header.size, levels };
}
