// The product page: the product's text from the JSON the service inlined, the <immersive-product> viewer,
// and an add-to-cart that links to the merchant's product page (the cart itself is the merchant's).
import '../js/element.js';
import { formatLength, formatPrice } from '../js/format.js';

const product = JSON.parse(document.getElementById('product-data').textContent);
const $ = (id) => document.getElementById(id);

$('name').textContent = product.name;
$('price').textContent = formatPrice(product) || '';
$('description').textContent = product.description;
const size = product.asset?.dimensions_m || product.dimensions_m;
if (size) {
  const metric = ['width', 'height', 'depth'].map((axis) => formatLength(size[axis], 'metric')).join(' × ');
  const imperial = ['width', 'height', 'depth'].map((axis) => formatLength(size[axis], 'imperial')).join(' × ');
  $('size').textContent = `W × H × D: ${metric} (${imperial})`;
}
if (product.product_url) {
  $('product-link').href = product.product_url;
  $('product-link').hidden = false;
}

const viewer = document.createElement('immersive-product');
viewer.setAttribute('merchant', product.merchant);
viewer.setAttribute('sku', product.sku);
const params = new URLSearchParams(location.search);
for (const name of ['variant', 'units', 'ar']) if (params.has(name)) viewer.setAttribute(name, params.get(name));
if (params.has('dimensions')) viewer.setAttribute('dimensions', '');
$('media').appendChild(viewer);

$('cart').addEventListener('click', () => viewer.addToCart('page'));
document.addEventListener('immersive-add-to-cart', (event) => {
  const variant = event.detail.variant ? ` (${event.detail.variant})` : '';
  $('cart-status').textContent = `${product.name}${variant} added to cart.`;
});
