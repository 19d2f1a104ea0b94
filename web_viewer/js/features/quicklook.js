// AR on devices without WebXR AR: iOS AR Quick Look (the pipeline's USDZ) and, on other Android browsers,
// Google's Scene Viewer through an intent URL. Both show the product at true scale with scale locked.
import { formatPrice } from '../format.js';

/**
 * The href of the `<a rel="ar">` that opens AR Quick Look: the USDZ URL with Apple's banner parameters in
 * the fragment (title, subtitle, price, call to action) and content scaling off (true scale).
 * https://developer.apple.com/documentation/arkit/arkit_in_ios/adding_an_apple_pay_button_or_a_custom_action_in_ar_quick_look
 */
export function quickLookHref(product, { callToAction = 'Add to cart', pageUrl = null } = {}) {
  const usdz = product.asset?.usdz_url;
  if (!usdz) return null;
  const params = new URLSearchParams();
  params.set('allowsContentScaling', '0');
  params.set('checkoutTitle', product.name);
  const subtitle = (product.description || '').split('\n')[0].slice(0, 80);
  if (subtitle) params.set('checkoutSubtitle', subtitle);
  const price = formatPrice(product);
  if (price) params.set('price', price);
  if (callToAction) params.set('callToAction', callToAction);
  if (pageUrl) params.set('canonicalWebPageURL', pageUrl);
  // Apple reads the fragment with %20 for spaces, not "+".
  return `${usdz}#${params.toString().replace(/\+/g, '%20')}`;
}

/** The Quick Look anchor: an `<a rel="ar">` whose first child is an image (Apple requires one). */
export function quickLookAnchor(product, options = {}) {
  const href = quickLookHref(product, options);
  if (!href) return null;
  const anchor = document.createElement('a');
  anchor.rel = 'ar';
  anchor.href = href;
  anchor.className = 'quicklook';
  const image = document.createElement('img');
  image.src = product.asset.poster_url || '';
  image.alt = `View ${product.name} in your space`;
  anchor.appendChild(image);
  return anchor;
}

/**
 * The Scene Viewer intent URL (ARCore's viewer, "ar_only" would fail without ARCore: "ar_preferred" falls
 * back to its 3D view). https://developers.google.com/ar/develop/scene-viewer
 */
export function sceneViewerIntent(product, { fallbackUrl = location.href, link = null } = {}) {
  const glb = product.asset?.model_url;
  if (!glb) return null;
  const params = new URLSearchParams();
  params.set('file', glb);
  params.set('mode', 'ar_preferred');
  params.set('title', product.name);
  // The banner's link: the merchant's product page, else the page the shopper came from.
  params.set('link', link || product.product_url || fallbackUrl);
  params.set('resizable', 'false');
  if (product.placement === 'wall') params.set('enable_vertical_placement', 'true');
  return `intent://arvr.google.com/scene-viewer/1.0?${params.toString()}#Intent;scheme=https;`
    + 'package=com.google.ar.core;action=android.intent.action.VIEW;'
    + `S.browser_fallback_url=${encodeURIComponent(fallbackUrl)};end;`;
}

/** Which AR path this browser takes when WebXR immersive-ar is not available. */
export function nativeArMode(userAgent = navigator.userAgent) {
  const iOS = /iPad|iPhone|iPod/.test(userAgent) || (/Macintosh/.test(userAgent) && navigator.maxTouchPoints > 1);
  if (iOS) return 'quick-look';
  if (/Android/i.test(userAgent)) return 'scene-viewer';
  return null;
}
