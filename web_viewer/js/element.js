// <immersive-product>: the embeddable product viewer, in model-viewer's style (a few attributes with
// sensible defaults). On a merchant's own page, load /viewer/embed.js (it adds the import map for three.js)
// and write:
//
//   <immersive-product merchant="demo" sku="CH-4001"></immersive-product>
//
// Attributes (all optional except merchant + sku):
//   merchant, sku     the published product to show
//   api               service base URL; default: the service that served this script
//   auto-rotate       "false" stops the slow turn shown until the first touch (default: on)
//   ar                "off" hides the AR button (default: AR where the device can: WebXR, Quick Look, Scene Viewer)
//   units             "metric" | "imperial" for the dimensions (default: from the browser's language)
//   variant           KHR_materials_variants name to show first
//   dimensions        present: show the dimensions overlay from the start
//   cta               text of the add-to-cart buttons (default "Add to cart")
//
// Events (bubbling, composed): "immersive-add-to-cart" {merchant, sku, variant}, "immersive-error"
// {status, message}. Property `.viewer` is the ProductViewer once the model is loading, `.ready` a promise
// resolved when the full-detail model is shown.
//
// The poster is shown before three.js is even fetched: this module imports no three.js; the viewer and
// its features are loaded with import() after the poster is on screen.
import { eventsUrl, fetchProduct, normalizeBase, scriptBase } from './api.js';
import { Analytics } from './features/analytics.js';
import { loadProgressive, prefetchModels } from './features/lod.js';
import { formatPrice } from './format.js';
import { fetchStudioLight } from './studio-light.js';
import { nativeArMode, quickLookAnchor, sceneViewerIntent } from './features/quicklook.js';

const IMPERIAL_LOCALES = /^(en-US|en-LR|my)/;

const STYLE = `
/* Class rules below set display; [hidden] must still win (a hidden full-stage .error would eat every pointer event). */
[hidden] { display: none !important; }
:host { display: block; position: relative; width: 100%; height: 420px; overflow: hidden;
  font: 14px/1.3 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; color: #111827;
  background: var(--immersive-background, #f4f4f2); contain: content; }
.stage, .canvas, .layer, .poster { position: absolute; inset: 0; }
.canvas { touch-action: none; }
.layer { pointer-events: none; }
.layer > * { pointer-events: auto; }
.poster { width: 100%; height: 100%; object-fit: contain; transition: opacity .3s; pointer-events: none; }
.poster.hidden { opacity: 0; }
.status { position: absolute; left: 50%; bottom: 56px; transform: translateX(-50%); padding: 4px 10px;
  border-radius: 12px; background: rgba(255,255,255,.85); font-size: 12px; }
.status:empty { display: none; }
.error { position: absolute; inset: 0; display: grid; place-items: center; padding: 24px; text-align: center; color: #991b1b; }
.bar { position: absolute; left: 8px; right: 8px; bottom: 8px; display: flex; gap: 6px; flex-wrap: wrap; align-items: center; }
.bar button, .overlay button { font: inherit; border: 1px solid #d1d5db; background: #fff; border-radius: 18px;
  padding: 6px 12px; cursor: pointer; }
.bar button[aria-pressed="true"] { background: #111827; color: #fff; border-color: #111827; }
.bar .ar { margin-left: auto; background: #111827; color: #fff; border-color: #111827; }
.variants { display: flex; gap: 6px; }
.hotspot { position: absolute; left: 0; top: 0; border: 0; background: none; padding: 0; cursor: pointer;
  display: flex; align-items: flex-start; gap: 4px; margin: -9px 0 0 -9px; transition: opacity .2s; }
.hotspot.behind { opacity: .25; }
.hotspot-dot { width: 18px; height: 18px; border-radius: 50%; background: #fff; border: 4px solid #111827; box-sizing: border-box; }
.hotspot-label { background: rgba(255,255,255,.92); border-radius: 4px; padding: 1px 6px; font-size: 12px; }
.hotspot-text { position: absolute; top: 22px; left: 0; width: 200px; background: #fff; border-radius: 6px;
  padding: 8px; box-shadow: 0 2px 8px rgba(0,0,0,.2); text-align: left; font-size: 12px; }
.dimension { position: absolute; left: 0; top: 0; background: #111827; color: #fff; border-radius: 4px;
  padding: 1px 6px; font-size: 12px; white-space: nowrap; translate: -50% -50%; }
.quicklook { position: absolute; width: 1px; height: 1px; overflow: hidden; opacity: 0; }
.overlay { position: fixed; inset: 0; pointer-events: none; display: none; font-size: 16px; }
.overlay.active { display: block; }
.overlay .card { pointer-events: auto; position: absolute; left: 12px; right: 12px; bottom: 16px; background: #fff;
  border-radius: 12px; padding: 12px; display: flex; gap: 8px; align-items: center; box-shadow: 0 2px 12px rgba(0,0,0,.3); }
.overlay .name { flex: 1; font-weight: 600; }
.overlay .exit { pointer-events: auto; position: absolute; top: 12px; right: 12px; }
.overlay .hint { position: absolute; top: 16px; left: 12px; right: 72px; color: #fff; text-shadow: 0 1px 3px #000; }
`;

export class ImmersiveProduct extends HTMLElement {
  static observedAttributes = ['units', 'variant', 'dimensions'];

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.innerHTML = `<style>${STYLE}</style>
      <div class="stage">
        <img class="poster" alt="" decoding="async" hidden>
        <div class="canvas"></div>
        <div class="layer dimensions-layer"></div>
        <div class="layer hotspots-layer"></div>
        <div class="status" role="status"></div>
        <div class="error" role="alert" hidden></div>
        <div class="bar">
          <div class="variants" hidden></div>
          <button type="button" class="dims" aria-pressed="false" hidden>Dimensions</button>
          <button type="button" class="units" hidden></button>
          <button type="button" class="vr" hidden>View in VR</button>
          <button type="button" class="ar" hidden>View in your space</button>
        </div>
      </div>
      <div class="overlay" part="ar-overlay">
        <div class="hint"></div>
        <button type="button" class="exit">Close</button>
        <div class="card"><span class="name"></span><span class="price"></span>
          <button type="button" class="cart"></button></div>
      </div>`;
    this.$ = (selector) => this.root.querySelector(selector);
    this.viewer = null;
    this.product = null;
    this.ready = new Promise((resolve, reject) => { this.resolveReady = resolve; this.rejectReady = reject; });
    this.ready.catch(() => { /* reported through the element's error state and event */ });
  }

  get base() {
    return normalizeBase(this.getAttribute('api') || scriptBase);
  }

  get units() {
    const units = this.getAttribute('units');
    if (units === 'metric' || units === 'imperial') return units;
    return IMPERIAL_LOCALES.test(navigator.language) ? 'imperial' : 'metric';
  }

  get callToAction() {
    return this.getAttribute('cta') || 'Add to cart';
  }

  connectedCallback() {
    if (this.started) return;
    this.started = true;
    const merchant = this.getAttribute('merchant');
    const sku = this.getAttribute('sku');
    if (!merchant || !sku) {
      this.#fail(0, 'immersive-product needs merchant and sku attributes');
      return;
    }
    this.analytics = new Analytics({ endpoint: eventsUrl(this.base), merchant, sku });
    this.analytics.emit('view', { page: location.pathname.startsWith('/p/') ? 'product' : 'embed' });
    this.#start(merchant, sku).catch((error) => this.#fail(error.status || 0, error.message));
  }

  attributeChangedCallback(name) {
    if (!this.features) return;
    if (name === 'units') this.#setUnits(this.units);
    if (name === 'variant' && this.getAttribute('variant')) this.features.variants.select(this.getAttribute('variant'));
    if (name === 'dimensions') this.#showDimensions(this.hasAttribute('dimensions'));
  }

  async #start(merchant, sku) {
    const product = inlinedProduct(merchant, sku) || await fetchProduct(this.base, merchant, sku);
    this.product = product;
    if (!product.asset) throw Object.assign(new Error(`${product.name} has no 3D model yet`), { status: 404 });
    this.#showPoster(product);
    const downloads = prefetchModels(product);
    // The studio light downloads while three.js loads, too (the viewer reports its failure).
    const studioLight = fetchStudioLight(this.base);
    studioLight.catch(() => {});

    const [{ ProductViewer }, { VariantPicker }, { Hotspots }, { Dimensions }] = await Promise.all([
      import('./viewer.js'),
      import('./features/variants.js'),
      import('./features/hotspots.js'),
      import('./features/dimensions.js'),
    ]);
    const viewer = new ProductViewer(this.$('.canvas'), {
      base: this.base,
      autoRotate: this.getAttribute('auto-rotate') !== 'false',
      analytics: this.analytics,
      studioLight,
    });
    viewer.product = product;
    viewer.element = this;
    this.viewer = viewer;
    this.features = {
      variants: new VariantPicker(viewer, this.$('.variants'), { initial: this.getAttribute('variant') }),
      hotspots: new Hotspots(viewer, this.$('.hotspots-layer')),
      dimensions: new Dimensions(viewer, this.$('.dimensions-layer'), { units: this.units }),
    };
    this.features.hotspots.set(product.hotspots || []);
    viewer.addEventListener('firstmodelframe', () => this.$('.poster').classList.add('hidden'), { once: true });
    this.#controls();

    this.$('.status').textContent = 'Loading 3D model…';
    viewer.addEventListener('model', (event) => {
      this.analytics.emit('model_loaded', {
        level: event.detail.level,
        ms: Math.round(performance.now()),
        first: event.detail.first,
      });
    });
    const { ms } = await loadProgressive(viewer, product, { downloads });
    this.$('.status').textContent = '';
    this.dispatchEvent(new CustomEvent('immersive-load', { detail: { ms } }));
    this.resolveReady(viewer);
    // Without AR the viewer still works: a failure here is logged, not shown.
    this.#offerAr(product).catch((error) => console.warn('immersive-product: AR not offered:', error));
  }

  #showPoster(product) {
    const poster = this.$('.poster');
    const url = this.getAttribute('poster') || product.asset.poster_url;
    if (!url) return;
    poster.alt = product.name;
    poster.addEventListener('load', () => {
      performance.mark('immersive:poster');
      this.analytics.emit('poster_shown', { ms: Math.round(performance.now()) });
    }, { once: true });
    poster.src = url;
    poster.hidden = false;
  }

  #controls() {
    const dims = this.$('.dims');
    dims.hidden = !(this.product.asset.dimensions_m || this.product.dimensions_m);
    dims.addEventListener('click', () => this.#showDimensions(dims.getAttribute('aria-pressed') !== 'true'));
    const units = this.$('.units');
    units.addEventListener('click', () => this.#setUnits(this.features.dimensions.units === 'metric' ? 'imperial' : 'metric'));
    this.#setUnits(this.units);
    if (this.hasAttribute('dimensions')) this.#showDimensions(true);
    this.$('.cart').textContent = this.callToAction;
    this.$('.cart').addEventListener('click', () => this.addToCart('ar'));
  }

  #showDimensions(visible) {
    this.features.dimensions.show(visible);
    this.$('.dims').setAttribute('aria-pressed', String(visible));
    this.$('.units').hidden = !visible;
  }

  #setUnits(units) {
    this.features.dimensions.setUnits(units);
    this.$('.units').textContent = units === 'metric' ? 'm' : 'in';
    this.$('.units').title = units === 'metric' ? 'Show inches' : 'Show metres';
  }

  /** Tells the page (and analytics) that the shopper wants the product: the merchant's cart handles it. */
  addToCart(source = 'viewer') {
    const detail = { merchant: this.product.merchant, sku: this.product.sku, variant: this.features?.variants.selected ?? null };
    this.analytics.emit('add_to_cart', { source, variant: detail.variant });
    this.dispatchEvent(new CustomEvent('immersive-add-to-cart', { bubbles: true, composed: true, detail }));
  }

  // AR: WebXR immersive-ar where the browser has it (Android Chrome), else AR Quick Look on iOS, else Scene
  // Viewer on other Android browsers; headsets get their own button. The XR modules load only here.
  async #offerAr(product) {
    if (this.getAttribute('ar') === 'off') return;
    const [{ WebXRAR }, { Headset }] = await Promise.all([import('./features/ar.js'), import('./features/headset.js')]);
    const headset = await Headset.isSupported();
    if (headset) {
      const vr = this.$('.vr');
      vr.hidden = false;
      vr.addEventListener('click', () => {
        new Headset(this.viewer, { analytics: this.analytics }).start().catch((error) => this.#xrFailed(error));
      });
    }
    let mode = null;
    if (!headset && await WebXRAR.isSupported()) mode = 'webxr';
    else if (!headset) mode = nativeArMode();
    if (mode === 'quick-look' && !product.asset.usdz_url) mode = null;
    const button = this.$('.ar');
    if (mode === 'webxr') {
      button.addEventListener('click', () => this.#startWebXR(WebXRAR).catch((error) => this.#xrFailed(error)));
    } else if (mode === 'quick-look') {
      const anchor = quickLookAnchor(product, { callToAction: this.callToAction, pageUrl: location.href });
      // The banner's button: Quick Look posts this message to the anchor.
      anchor.addEventListener('message', (event) => {
        if (event.data === '_apple_ar_quicklook_button_tapped') this.addToCart('quick-look');
      });
      this.$('.stage').appendChild(anchor);
      button.addEventListener('click', () => {
        this.analytics.emit('ar_started', { mode });
        anchor.click();
      });
    } else if (mode === 'scene-viewer') {
      const intent = sceneViewerIntent(product);
      button.dataset.intent = intent;
      button.addEventListener('click', () => {
        this.analytics.emit('ar_started', { mode });
        location.href = intent;
      });
    }
    if (!mode) return;
    button.hidden = false;
    button.dataset.mode = mode;
    this.analytics.emit('ar_offered', { mode });
  }

  async #startWebXR(WebXRAR) {
    const overlay = this.$('.overlay');
    this.$('.overlay .name').textContent = this.product.name;
    this.$('.overlay .price').textContent = formatPrice(this.product) || '';
    this.ar = new WebXRAR(this.viewer, { analytics: this.analytics });
    // Guidance while searching for a surface ("move your phone slowly"...), from the AR feature.
    this.ar.addEventListener('status', (event) => { this.$('.overlay .hint').textContent = event.detail.text; });
    overlay.classList.add('active');
    this.$('.overlay .exit').onclick = () => this.ar.end();
    try {
      await this.ar.start(overlay);
    } finally {
      overlay.classList.toggle('active', this.viewer.renderer.xr.isPresenting);
    }
    this.viewer.renderer.xr.addEventListener('sessionend', () => overlay.classList.remove('active'), { once: true });
  }

  // The XR features have already emitted ar_failed / xr_ended with the reason: tell the shopper, keep the 3D view.
  #xrFailed(error) {
    console.warn('immersive-product: immersive session failed:', error);
    this.$('.status').textContent = error.reason === 'permission'
      ? 'Camera access is needed for AR'
      : 'AR could not start on this device';
    setTimeout(() => { this.$('.status').textContent = ''; }, 4000);
  }

  #fail(status, message) {
    const error = this.$('.error');
    error.textContent = message;
    error.hidden = false;
    this.$('.status').textContent = '';
    this.rejectReady(new Error(message));
    this.dispatchEvent(new CustomEvent('immersive-error', { bubbles: true, composed: true, detail: { status, message } }));
  }

  disconnectedCallback() {
    // Kept alive while attached elsewhere (moving an element re-connects it); freed when dropped.
    queueMicrotask(() => {
      if (!this.isConnected && this.viewer) {
        this.analytics.flush({ beacon: true });
        this.viewer.dispose();
        this.viewer = null;
      }
    });
  }
}

/** The product JSON the product page inlines (no API round trip before the poster), if it is this one. */
function inlinedProduct(merchant, sku) {
  const script = document.getElementById('product-data');
  if (!script) return null;
  try {
    const product = JSON.parse(script.textContent);
    return product.merchant === merchant && product.sku === sku ? product : null;
  } catch {
    return null;
  }
}

if (!customElements.get('immersive-product')) customElements.define('immersive-product', ImmersiveProduct);
