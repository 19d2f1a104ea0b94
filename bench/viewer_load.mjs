// Scenario for bench/viewer.py, run by tests/browser/harness.mjs: loads the product page of each SKU `runs`
// times, each time in a fresh browser context (empty HTTP cache, new session), and reads the timings off
// the page. All times are ms from the navigation start (performance.timeOrigin):
//   posterPainted   the poster's largest-contentful-paint entry (the frame it was painted in)
//   posterLoaded    the viewer's mark 'immersive:poster' (the poster <img> load event)
//   firstModelFrame the viewer's mark 'immersive:first-model-frame': right after the first renderer.render()
//                   with the model in the scene (the pixels reach the screen at the next compositor frame)
//   lod0            the viewer's mark 'immersive:lod0' (full detail shown)
//   firstShown      the mark 'immersive:lod{N}' of the LOD shown first (downloaded, parsed, textures decoded;
//                   not yet drawn), firstLevel its N
//   three           the viewer's mark 'immersive:viewer': three.js and the viewer's code loaded, renderer made
//                   (the model's bytes are requested earlier, while three.js loads)
//   models          per .glb: file name, bytes, request start and response end
// args: {base, merchant, skus: [...], runs}.
const TIMEOUT_MS = 60000;

export default async function viewerLoad(ctx, { base, merchant, skus, runs }) {
  const results = {};
  for (const sku of skus) {
    results[sku] = [];
    for (let run = 0; run < runs; run += 1) {
      const page = await ctx.newPage({ viewport: { width: 1100, height: 760 } }, `${sku}#${run + 1}`);
      await page.addInitScript(() => {
        window.__paints = [];
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) window.__paints.push({ url: entry.url, time: entry.renderTime || entry.loadTime });
        }).observe({ type: 'largest-contentful-paint', buffered: true });
      });
      await page.goto(`${base}/p/${encodeURIComponent(merchant)}/${encodeURIComponent(sku)}`);
      await page.waitForFunction(() => performance.getEntriesByName('immersive:lod0').length > 0, null, { timeout: TIMEOUT_MS });
      results[sku].push(await page.evaluate(() => {
        const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
        const poster = document.querySelector('immersive-product').shadowRoot.querySelector('.poster').currentSrc;
        const firstShown = performance.getEntriesByType('mark').find((entry) => /^immersive:lod\d$/.test(entry.name));
        const models = performance.getEntriesByType('resource')
          .filter((entry) => new URL(entry.name).pathname.endsWith('.glb'))
          .map((entry) => ({ file: entry.name.split('/').pop(), bytes: entry.encodedBodySize, start: entry.startTime, end: entry.responseEnd }));
        return {
          posterPainted: window.__paints.find((paint) => paint.url === poster)?.time ?? null,
          posterLoaded: mark('immersive:poster'),
          firstModelFrame: mark('immersive:first-model-frame'),
          lod0: mark('immersive:lod0'),
          firstShown: firstShown?.startTime ?? null,
          firstLevel: firstShown ? Number(firstShown.name.slice(-1)) : null,
          three: mark('immersive:viewer'),
          models,
        };
      }));
      await page.context().close();
    }
  }
  return results;
}
