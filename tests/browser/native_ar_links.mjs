// The AR entry points of phones without WebXR AR, by user-agent emulation on the product page: iOS Safari
// gets AR Quick Look (an <a rel="ar"> to the USDZ with Apple's banner parameters), other Android browsers
// get Scene Viewer (an intent URL on the AR button). Nothing is clicked: the links are returned for pytest
// to parse. args: {base, merchant, sku}.
import { flushAnalytics } from './viewer_page.mjs';

const PHONES = {
  ios: {
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true,
  },
  android: {
    userAgent: 'Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36',
    viewport: { width: 412, height: 915 }, deviceScaleFactor: 2.625, isMobile: true, hasTouch: true,
  },
};

export default async function nativeArLinks(ctx, { base, merchant, sku }) {
  const url = `${base}/p/${encodeURIComponent(merchant)}/${encodeURIComponent(sku)}`;
  const result = { pageUrl: url };
  for (const [phone, options] of Object.entries(PHONES)) {
    const page = await ctx.newPage({ ...options, locale: 'en-US' }, phone);
    await page.goto(url);
    // The AR button appears once the full model is shown and the AR path is chosen.
    await page.locator('immersive-product .bar .ar').waitFor({ state: 'visible' });
    result[phone] = await page.evaluate(() => {
      const root = document.querySelector('immersive-product').shadowRoot;
      const button = root.querySelector('.bar .ar');
      const anchor = root.querySelector('a[rel="ar"]');
      return {
        userAgent: navigator.userAgent,
        mode: button.dataset.mode,
        intent: button.dataset.intent ?? null,
        quickLook: anchor && {
          href: anchor.href,
          firstChild: anchor.firstElementChild?.tagName.toLowerCase() ?? null,
          imageLoaded: anchor.firstElementChild?.complete && anchor.firstElementChild.naturalWidth > 0,
        },
      };
    });
    result[phone].session = await flushAnalytics(page);
    await page.context().close();
  }
  return result;
}
