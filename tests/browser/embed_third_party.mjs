// <immersive-product> on a plain third-party page served from another origin (a tiny HTTP server on its
// own port, started here): the page only includes the service's embed.js and the elements. Each element
// must load, render its model (screenshots with and without it) and send its events cross-origin.
// args: {base, merchant, products: [{sku, attributes: {name: value}}], work: dir for screenshots}.
import http from 'node:http';
import path from 'node:path';

import { flushAnalytics, freeze, modelScreenBox, setModelVisible, shoot, waitReady } from './viewer_page.mjs';

const escapeHtml = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function shopPage(base, merchant, products) {
  const elements = products.map(({ sku, attributes = {} }) => {
    const extra = Object.entries(attributes).map(([name, value]) => ` ${name}="${escapeHtml(value)}"`).join('');
    return `<immersive-product merchant="${escapeHtml(merchant)}" sku="${escapeHtml(sku)}"${extra}
      style="width: 480px; height: 360px"></immersive-product>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A merchant's shop</title></head>
<body>
<h1>Our products</h1>
<script src="${base}/viewer/embed.js"></script>
${elements}
</body></html>`;
}

export default async function embedOnThirdPartyPage(ctx, { base, merchant, products, work }) {
  const html = shopPage(base, merchant, products);
  const server = http.createServer((request, response) => {
    if (request.url === '/' || request.url === '/shop.html') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(html);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const shopOrigin = `http://127.0.0.1:${server.address().port}`;
  try {
    const page = await ctx.newPage({ viewport: { width: 1000, height: 900 } }, 'shop');
    await page.goto(`${shopOrigin}/shop.html`);
    const result = {
      shopOrigin,
      serviceOrigin: new URL(base).origin,
      importMap: await page.evaluate(() => [...document.querySelectorAll('script[type="importmap"]')]
        .map((script) => JSON.parse(script.textContent))),
      elements: [],
    };
    for (const [index, { sku }] of products.entries()) {
      await waitReady(page, index);
      await freeze(page, index);
      const element = {
        sku,
        model: await modelScreenBox(page, index),
        pressedVariant: await page.evaluate((i) => document.querySelectorAll('immersive-product')[i].shadowRoot
          .querySelector('.variant[aria-pressed="true"]')?.dataset.variant ?? null, index),
        shots: { model: await shoot(page, path.join(work, `embed-${sku}-model.png`), index) },
      };
      await setModelVisible(page, false, index);
      element.shots.background = await shoot(page, path.join(work, `embed-${sku}-background.png`), index);
      await setModelVisible(page, true, index);
      element.session = await flushAnalytics(page, index);
      result.elements.push(element);
    }
    result.viewers = await page.evaluate(() => window.__immersive.viewers.length);
    return result;
  } finally {
    server.close();
  }
}
