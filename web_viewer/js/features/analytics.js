// Viewer analytics: events are queued and sent in batches to the service's ingestion endpoint
// (POST /api/v1/events) by a timer, when a batch is full, and on pagehide (sendBeacon). Sending never
// blocks the page and never throws into it: a failed batch is dropped and counted.
//
// Privacy: events carry a pseudonymous random session id (per browser tab, not a cookie, never linked to a
// person), the merchant and product, and the event's own properties. No personal data.

const SESSION_KEY = 'immersive.session';
let memorySession = null;

/** The tab's pseudonymous session id (sessionStorage when available, else for this page only). */
export function sessionId() {
  try {
    let id = sessionStorage.getItem(SESSION_KEY);
    if (!id) {
      id = randomId();
      sessionStorage.setItem(SESSION_KEY, id);
    }
    return id;
  } catch {
    // Storage is blocked (e.g. a third-party iframe with strict settings).
    memorySession = memorySession || randomId();
    return memorySession;
  }
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Analytics {
  /**
   * @param {object} options
   * @param {string} options.endpoint the ingestion URL
   * @param {string} options.merchant merchant slug
   * @param {string|null} [options.sku] product SKU
   * @param {number} [options.flushMs=2000] longest time an event waits in the queue
   * @param {number} [options.maxBatch=50] events per request
   */
  constructor({ endpoint, merchant, sku = null, flushMs = 2000, maxBatch = 50 }) {
    Object.assign(this, { endpoint, merchant, sku, flushMs, maxBatch });
    this.session = sessionId();
    this.queue = [];
    this.sent = 0;
    this.failed = 0;
    this.timer = null;
    this.inFlight = new Set();
    addEventListener('pagehide', () => this.flush({ beacon: true }));
    addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.flush({ beacon: true });
    });
  }

  /** Queues an event; props are flat {name: string|number|boolean|null}. */
  emit(type, props = {}) {
    this.queue.push({ type, session: this.session, merchant: this.merchant, sku: this.sku, ts: Date.now(), props });
    if (this.queue.length >= this.maxBatch) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.flushMs);
  }

  /** Sends what is queued now. Returns a promise that settles when the requests have (tests await it). */
  flush({ beacon = false } = {}) {
    clearTimeout(this.timer);
    this.timer = null;
    const requests = [];
    while (this.queue.length) {
      const events = this.queue.splice(0, this.maxBatch);
      // text/plain: a "simple" cross-origin request (no CORS preflight), the type sendBeacon uses too.
      const body = JSON.stringify({ events });
      if (beacon && navigator.sendBeacon?.(this.endpoint, new Blob([body], { type: 'text/plain' }))) {
        this.sent += events.length;
        continue;
      }
      const request = fetch(this.endpoint, { method: 'POST', body, keepalive: true, headers: { 'content-type': 'text/plain' } })
        .then((response) => {
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          this.sent += events.length;
        })
        .catch(() => { this.failed += events.length; })
        .finally(() => this.inFlight.delete(request));
      this.inFlight.add(request);
      requests.push(request);
    }
    return Promise.all([...this.inFlight]);
  }
}
