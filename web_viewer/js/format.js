// Text for shoppers: prices and lengths. No three.js here (the page and the element use it before the
// viewer is loaded).

const INCH = 0.0254;

/** A length in metres as text: metric in metres, imperial in inches. */
export function formatLength(metres, units = 'metric') {
  if (units === 'imperial') return `${(metres / INCH).toFixed(1)} in`;
  return `${metres.toFixed(metres < 1 ? 3 : 2)} m`;
}

/** Price as the shopper reads it, e.g. "$129.00"; null without a price. */
export function formatPrice(product, locale = navigator.language) {
  if (product.price == null) return null;
  if (!product.currency) return String(product.price);
  return new Intl.NumberFormat(locale, { style: 'currency', currency: product.currency }).format(Number(product.price));
}
