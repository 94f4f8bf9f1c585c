// What the end-to-end tests share: a static server for www/ on 127.0.0.1 (a free port), Debian's
// headless Chromium driven by playwright-core, and a page opener that records every console
// error, page error and failed request, so that a test can assert there were none.
//
//   CHROMIUM=/path/to/chromium node --test playground.test.js misuse.test.js

import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const www = path.resolve(here, '../../www');
export const screenshots = path.join(here, 'screenshots');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.json': 'application/json',
};

/** A static server for www/, like any host the page is published on. */
function serve(root) {
  // Long URLs are allowed in, so that the page itself gets to refuse a huge program in one.
  const server = http.createServer({ maxHeaderSize: 1 << 20 }, async (request, response) => {
    const url = new URL(request.url, 'http://localhost');
    let file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
    if (!file.startsWith(root)) {
      response.writeHead(403).end();
      return;
    }
    if (url.pathname.endsWith('/')) file = path.join(file, 'index.html');
    try {
      const body = await fs.readFile(file);
      response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * Serves www/ and launches Chromium. Returns `{ open, close }`: `open(viewport, query)` opens
 * the page (English locale, so the browser's own validation messages are predictable), waits
 * until it is ready and returns `{ page, problems }`.
 */
export async function startSession() {
  const server = await serve(www);
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      '--lang=en-US'],
  });
  await fs.mkdir(screenshots, { recursive: true });

  /** Opens the page and records every console error, page error and failed request. */
  async function open(viewport, query = '', options = {}) {
    const page = await browser.newPage({ viewport, locale: 'en-US', ...options });
    const problems = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    await page.goto(base + query);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
    return { page, problems };
  }

  async function close() {
    await browser.close();
    server.close();
  }

  return { open, close };
}

/** The state of every block in the map, in address order ("never used", "free", "in use"). */
export const states = (page) =>
  page.$$eval('#pool-map button.block', (blocks) => blocks.map((b) => b.dataset.state));
/** The text of one counter (`in-use`, `allocs`, `frees`, `rejected`, `leaks`, …). */
export const counter = (page, name) => page.textContent(`#counters dd[data-counter="${name}"]`);
/** The message area's text: what the page says about the last operation. */
export const message = (page) => page.textContent('#message');
