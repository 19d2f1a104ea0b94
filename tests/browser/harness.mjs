// Runs one browser scenario in headless Chromium and prints one JSON line with its result.
//
//   node tests/browser/harness.mjs SCENARIO.mjs '{"base": "http://127.0.0.1:8123", ...}'
//
// A scenario module exports `default async function (ctx, args)` and returns anything JSON-serializable, and
// optionally `chromiumArgs(args)`: extra Chromium flags for its run.
// `ctx.newPage(options)` opens a page in a fresh browser context (options go to browser.newContext: userAgent,
// viewport, ...) and watches it: console errors, uncaught page errors, failed requests and HTTP >= 400 answers
// are collected as problems, and the run fails when there are any (a scenario that provokes some on purpose
// lists them with `ctx.allowProblems(regex)`). One Chromium serves the whole scenario; pytest asserts on the
// printed line: {"ok": bool, "result": ..., "problems": [...], "error": str | null, "seconds": float}.

import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = path.resolve(HERE, '../../web_viewer/node_modules');
const { chromium } = await import(pathToFileURL(path.join(NODE_MODULES, 'playwright-core/index.mjs')).href);

export const CHROMIUM = process.env.IMMERSIVE_CHROMIUM || '/usr/bin/chromium';
// Flags that work as root on these machines (NOTES.md); the last three give WebGL on Mesa GL through EGL.
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  '--use-angle=gl-egl', '--ignore-gpu-blocklist', '--enable-gpu',
];

const SCENARIO_TIMEOUT_MS = Number(process.env.IMMERSIVE_SCENARIO_TIMEOUT_MS || 150000);

export async function launchChromium(extraArgs = []) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

// Watches a page and records what went wrong on it, tagged with the page's label.
function watch(page, label, problems) {
  const add = (kind, text) => problems.push({ page: label, kind, text: String(text).slice(0, 2000) });
  page.on('console', (msg) => {
    const where = msg.location().url || '';
    if (msg.type() === 'error' && new URL(where || 'about:blank').pathname !== '/favicon.ico') add('console', `${msg.text()} @ ${where}`);
  });
  page.on('pageerror', (err) => add('pageerror', err.stack || err.message));
  page.on('requestfailed', (req) => {
    const reason = req.failure()?.errorText || 'failed';
    // A navigation away from a page aborts its pending requests (sendBeacon excepted): not a fault of the page.
    if (reason === 'net::ERR_ABORTED' && page.isClosed()) return;
    add('requestfailed', `${req.method()} ${req.url()}: ${reason}`);
  });
  page.on('response', (res) => {
    // The browser asks for /favicon.ico by itself; the pages do not reference one.
    if (res.status() >= 400 && new URL(res.url()).pathname !== '/favicon.ico') add('http', `${res.request().method()} ${res.url()}: ${res.status()}`);
  });
}

async function main() {
  const [scenarioPath, argsJson = '{}'] = process.argv.slice(2);
  if (!scenarioPath) throw new Error('usage: node harness.mjs SCENARIO.mjs [JSON_ARGS]');
  const started = performance.now();
  const problems = [];
  const allowed = [];
  let browser;
  let output;
  try {
    const args = JSON.parse(argsJson);
    const module = await import(pathToFileURL(path.resolve(scenarioPath)).href);
    const scenario = module.default;
    // A scenario may need more Chromium flags (e.g. a fake camera): `export function chromiumArgs(args)`.
    browser = await launchChromium(module.chromiumArgs?.(args) ?? []);
    let pages = 0;
    const ctx = {
      browser,
      nodeModules: NODE_MODULES,
      allowProblems(regex) { allowed.push(regex); },
      async newPage(options = {}, label = `page${++pages}`) {
        const context = await browser.newContext(options);
        const page = await context.newPage();
        watch(page, label, problems);
        return page;
      },
    };
    // A scenario stuck on a promise the page never settles must still end (and close Chromium).
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`scenario timed out after ${SCENARIO_TIMEOUT_MS} ms`)), SCENARIO_TIMEOUT_MS);
    });
    const result = await Promise.race([scenario(ctx, args), timeout]).finally(() => clearTimeout(timer));
    output = { ok: true, result: result ?? null, error: null };
  } catch (err) {
    output = { ok: false, result: null, error: err?.stack || String(err) };
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  const unexpected = problems.filter((p) => !allowed.some((re) => re.test(p.text)));
  if (unexpected.length) output.ok = false;
  output.problems = unexpected;
  output.seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify(output) + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
