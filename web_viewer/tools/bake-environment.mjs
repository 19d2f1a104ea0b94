// Bakes the viewer's studio light: three.js' PMREMGenerator.fromScene(new RoomEnvironment(), 0.04), run in
// headless Chromium exactly as the viewer used to run it on every page load, read back from the GPU and
// written to web_viewer/assets/studio-environment.pmrem.gz (the viewer loads it instead of compiling and
// running the PMREM shaders on the shopper's device: ~1.3 s on software GL).
//
//   node web_viewer/tools/bake-environment.mjs [OUTPUT]
//
// Run it again after upgrading three.js (the PMREM layout or RoomEnvironment may change; the file records
// the three.js revision it was made with) and commit the file. Chromium: /usr/bin/chromium (or
// IMMERSIVE_CHROMIUM) with the browser tests' flags (tests/browser/harness.mjs).
//
// File format: see js/studio-light.js (it reads it). In short, gzip of a small JSON header and the texels:
// half floats (linear sRGB, as the PMREM holds them, copied bit for bit), RGB, each mip level (largest
// first), each face (+X, -X, +Y, -Y, +Z, -Z), rows bottom to top, stored as their difference to the
// gradient prediction left + below - below-left (modulo 2^16; lossless, 3.1 MB -> ~0.33 MB). The faces are
// in the convention of a cube map made from data, which three mirrors in x when sampling (its own render
// targets it does not): +X and -X swapped, every row reversed.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

import { launchChromium } from '../../tests/browser/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VIEWER = path.resolve(HERE, '..');
const THREE = path.join(VIEWER, 'node_modules', 'three');
export const DEFAULT_OUTPUT = path.join(VIEWER, 'assets', 'studio-environment.pmrem.gz');
const ORIGIN = 'http://bake.invalid';
const SIGMA = 0.04; // the blur of the room before GGX filtering, as the viewer always had it

// Runs in the page: the PMREM, then each face of each mip level read back (as 32-bit floats, the one
// type WebGL always reads float buffers as; exact, they are half floats on the GPU) and returned as half
// floats, base64.
async function bakeInPage(sigma) {
  const THREE = await import('three');
  const { RoomEnvironment } = await import('three/addons/environments/RoomEnvironment.js');
  const renderer = new THREE.WebGLRenderer();
  const pmrem = new THREE.PMREMGenerator(renderer);
  const target = pmrem.fromScene(new RoomEnvironment(), sigma);
  pmrem.dispose();
  const texture = target.texture;
  const gl = renderer.getContext();
  const glTexture = renderer.properties.get(texture).__webglTexture;
  const framebuffer = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
  const levels = texture.mipmaps.map((mip) => mip.width);
  const faces = [];
  levels.forEach((width, level) => {
    for (let face = 0; face < 6; face += 1) {
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_CUBE_MAP_POSITIVE_X + face, glTexture, level);
      const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
      if (status !== gl.FRAMEBUFFER_COMPLETE) throw new Error(`level ${level} face ${face}: framebuffer status ${status}`);
      const texels = new Float32Array(width * width * 4);
      gl.readPixels(0, 0, width, width, gl.RGBA, gl.FLOAT, texels);
      const halves = Uint16Array.from(texels, (value) => THREE.DataUtils.toHalfFloat(value));
      let binary = '';
      const bytes = new Uint8Array(halves.buffer);
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      faces.push({ level, face, width, halves: btoa(binary) });
    }
  });
  return {
    revision: THREE.REVISION,
    size: target.width,
    type: texture.type === THREE.HalfFloatType ? 'half' : String(texture.type),
    colorSpace: texture.colorSpace,
    isRenderTargetTexture: texture.isRenderTargetTexture,
    levels,
    faces,
  };
}

// Cube map from data <- three's render-target cube map: three samples the former at (-x, y, z).
const MIRRORED_FACE = [1, 0, 2, 3, 4, 5];

export function encode(baked) {
  const { size, levels } = baked;
  const halvesOf = new Map(baked.faces.map((f) => {
    const bytes = Buffer.from(f.halves, 'base64');
    return [`${f.level}/${f.face}`, new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)];
  }));
  const texelCount = levels.reduce((sum, width) => sum + 6 * width * width, 0);
  const residuals = new Uint16Array(texelCount * 3);
  let offset = 0;
  levels.forEach((width, level) => {
    for (let face = 0; face < 6; face += 1) {
      const source = halvesOf.get(`${level}/${MIRRORED_FACE[face]}`);
      const texel = (x, y, c) => source[(y * width + (width - 1 - x)) * 4 + c]; // mirrored in x
      for (let y = 0; y < width; y += 1) {
        for (let x = 0; x < width; x += 1) {
          for (let c = 0; c < 3; c += 1) {
            const left = x > 0 ? texel(x - 1, y, c) : 0;
            const below = y > 0 ? texel(x, y - 1, c) : 0;
            const corner = x > 0 && y > 0 ? texel(x - 1, y - 1, c) : 0;
            const prediction = x > 0 && y > 0 ? left + below - corner : left + below;
            residuals[offset++] = (texel(x, y, c) - prediction) & 0xffff;
          }
        }
      }
    }
  });
  const json = JSON.stringify({
    format: 'immersive-pmrem',
    version: 1,
    size,
    levels: levels.length,
    three: baked.revision,
    sigma: SIGMA,
  });
  // Padded with spaces so that the texels start 4-byte aligned (read in place as a Uint16Array).
  const header = Buffer.from(json.padEnd(Math.ceil(json.length / 4) * 4, ' '));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const texels = Buffer.from(residuals.buffer, residuals.byteOffset, residuals.byteLength);
  return zlib.gzipSync(Buffer.concat([length, header, texels]), { level: 9 });
}

async function main() {
  const output = path.resolve(process.argv[2] || DEFAULT_OUTPUT);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.route(`${ORIGIN}/**`, async (route) => {
      const { pathname } = new URL(route.request().url());
      if (pathname === '/') {
        const importMap = { imports: { three: `${ORIGIN}/three/build/three.module.js`, 'three/addons/': `${ORIGIN}/three/examples/jsm/` } };
        return route.fulfill({ contentType: 'text/html', body: `<!doctype html><script type="importmap">${JSON.stringify(importMap)}</script>` });
      }
      const file = path.join(THREE, pathname.replace(/^\/three\//, ''));
      if (!pathname.startsWith('/three/') || !file.startsWith(THREE) || !fs.existsSync(file)) return route.fulfill({ status: 404 });
      return route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(file) });
    });
    await page.goto(`${ORIGIN}/`);
    const baked = await page.evaluate(bakeInPage, SIGMA);
    if (baked.type !== 'half' || baked.colorSpace !== 'srgb-linear' || !baked.isRenderTargetTexture) {
      throw new Error(`unexpected PMREM texture (three ${baked.revision}): ${JSON.stringify({ ...baked, faces: undefined })}`);
    }
    const file = encode(baked);
    fs.mkdirSync(path.dirname(output), { recursive: true });
    fs.writeFileSync(output, file);
    console.log(`${path.relative(process.cwd(), output)}: ${file.length} bytes (three r${baked.revision}, cube ${baked.size} px, ${baked.levels.length} levels: ${baked.levels.join(', ')})`);
  } finally {
    await browser.close();
  }
}

await main();
