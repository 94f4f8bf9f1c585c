// End-to-end test of the playground page in real headless Chromium (Debian's), driven by
// playwright-core. It serves www/ itself on 127.0.0.1 (a free port), uses the page as a
// learner would, and fails on any console error or failed request (harness.js).
//
//   make test-e2e          (builds www/ first)
//   CHROMIUM=/path/to/chromium node --test playground.test.js

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startSession, screenshots, states, counter, message } from './harness.js';

let session;
before(async () => { session = await startSession(); });
after(async () => { await session?.close(); });
const open = (viewport, query) => session.open(viewport, query);

test('a learner allocates, frees by clicking, and is refused a double free', async () => {
  const { page, problems } = await open({ width: 1280, height: 800 });

  // The explanation is the README, rendered.
  await page.waitForSelector('#explanation h2');
  assert.match(await page.textContent('#explanation'), /Background: dynamic memory allocation/);

  await page.fill('#block-size', '32');
  await page.fill('#block-count', '8');
  await page.click('#create');
  assert.deepEqual(await states(page), Array(8).fill('never used'));

  await page.fill('#request-size', '24');
  for (let i = 0; i < 3; i++) await page.click('#alloc');
  assert.deepEqual(await states(page),
    ['in use', 'in use', 'in use', 'never used', 'never used', 'never used', 'never used', 'never used']);
  assert.equal(await counter(page, 'in-use'), '3');
  assert.equal(await counter(page, 'allocs'), '3');
  assert.equal(await counter(page, 'wasted'), '24 B'); // 3 × (32 − 24)

  // Free block 1 by clicking it.
  await page.click('#pool-map button.block[data-index="1"]');
  assert.deepEqual((await states(page)).slice(0, 3), ['in use', 'free', 'in use']);
  assert.equal(await counter(page, 'in-use'), '2');
  assert.equal(await counter(page, 'frees'), '1');
  assert.equal(await counter(page, 'free'), '1');
  assert.match(await page.textContent('#free-list-text'), /head → #1 → end/);
  // The state bytes drawn in the metadata part are the real ones: 02 01 02 00 …
  assert.deepEqual(await page.$$eval('#pool-map .state-byte', (bytes) => bytes.slice(0, 4).map((b) => b.textContent)),
    ['02', '01', '02', '00']);

  // Click it again: a double free, refused with the allocator's message; nothing changes.
  const before = await states(page);
  await page.click('#pool-map button.block[data-index="1"]');
  const refusal = await message(page);
  assert.match(refusal, /Refused: double free: block 1 at 0x[0-9a-f]+ is already free/);
  assert.match(refusal, /The map is unchanged/);
  assert.deepEqual(await states(page), before);
  assert.equal(await counter(page, 'in-use'), '2');
  assert.equal(await counter(page, 'frees'), '1');
  assert.match(await counter(page, 'rejected'), /^1 \(1 double/);

  // The other two kinds of misuse, from their buttons.
  await page.click('#misuse-middle');
  assert.match(await message(page), /misaligned free: 0x[0-9a-f]+ is 8 bytes into block 0/);
  await page.click('#misuse-outside');
  assert.match(await message(page), /is not a block of this pool/);
  assert.deepEqual(await states(page), before);
  assert.match(await counter(page, 'rejected'), /^3 /);

  // Keyboard: focus a block, press Enter to free it.
  await page.focus('#pool-map button.block[data-index="2"]');
  await page.keyboard.press('Enter');
  assert.equal((await states(page))[2], 'free');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), '2',
    'the focus stays on the block after the map is redrawn');
  assert.match(await page.textContent('#free-list-text'), /head → #2 → #1 → end/);

  // Write a value and read its bytes back from linear memory.
  await page.selectOption('#write-block', '0');
  await page.fill('#write-value', 'hello');
  await page.click('#write');
  assert.match(await page.textContent('#hex'), /68 65 6c 6c 6f .*hello/);

  // End the program: block 0 is still in use, a leak.
  await page.click('#end-program');
  assert.equal(await counter(page, 'leaks'), '1 block, 32 B');
  assert.match(await message(page), /1 block still in use \(#0\)/);

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(screenshots, 'playground-1280x800.png') });
  await page.screenshot({ path: path.join(screenshots, 'playground-1280-full.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a scenario plays to its end, and its link reopens the same step', async () => {
  const { page, problems } = await open({ width: 1280, height: 800 });
  // Play steps on its own, and pauses.
  await page.click('#scenario-play');
  assert.equal(await page.getAttribute('#scenario-play', 'aria-pressed'), 'true');
  await page.waitForFunction(() => /Step [1-9]/.test(document.querySelector('#scenario-progress').textContent));
  await page.click('#scenario-play');
  assert.equal(await page.getAttribute('#scenario-play', 'aria-pressed'), 'false');

  await page.selectOption('#scenario-select', 'leak');
  assert.match(await page.textContent('#scenario-progress'), /Step 0 of 5/);
  while (!(await page.isDisabled('#scenario-next'))) await page.click('#scenario-next');
  assert.match(await page.textContent('#scenario-progress'), /Step 5 of 5/);
  assert.match(page.url(), /\?scenario=leak&step=5$/);
  assert.equal(await counter(page, 'leaks'), '4 blocks, 64 B');
  assert.equal((await states(page)).filter((s) => s === 'in use').length, 4);

  // Previous replays the scenario up to step 4: the program has not ended yet.
  await page.click('#scenario-prev');
  assert.equal(await counter(page, 'leaks'), 'the program is still running');

  // A shared link opens the misuse scenario at its double free.
  const shared = await open({ width: 1280, height: 800 }, '?scenario=misuse&step=3');
  assert.match(await message(shared.page), /double free: block 0 at 0x[0-9a-f]+ is already free/);
  assert.equal(await shared.page.inputValue('#scenario-select'), 'misuse');
  assert.deepEqual(shared.problems, []);
  await shared.page.close();

  assert.deepEqual(problems, []);
  await page.close();
});

test('pool vs heap: the heap fails with free bytes to spare, the pool does not', async () => {
  const { page, problems } = await open({ width: 1280, height: 800 }, '?scenario=mixed-sizes&step=0');
  while (!(await page.isDisabled('#scenario-next'))) await page.click('#scenario-next');
  assert.equal(await page.textContent('dd[data-counter="failed-heap"]'), '2');
  assert.equal(await page.textContent('dd[data-counter="failed-pool"]'), '0');
  assert.equal(await page.textContent('dd[data-counter="fragmentation-pool"]'), '0%');
  assert.equal(await page.$$eval('#compare-chart polyline', (lines) => lines.length), 2);
  await page.locator('#compare').screenshot({ path: path.join(screenshots, 'compare-1280.png') });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the page transfers its wasm, JS, CSS and trace once, and says how much', async (t) => {
  const { page, problems } = await open({ width: 1280, height: 800 });
  const resources = await page.evaluate(() => [performance.getEntriesByType('navigation')[0],
    ...performance.getEntriesByType('resource')].map((entry) => ({
    name: new URL(entry.name).pathname, bytes: entry.transferSize, body: entry.encodedBodySize,
  })));
  const sum = (test) => resources.filter((r) => test.test(r.name)).reduce((n, r) => n + r.bytes, 0);
  // The allocation trace the page replays ("A real program's heap") is fetched too: it counts.
  const code = sum(/\.(wasm|js|css|trace)$/);
  const wasm = sum(/\.wasm$/);
  assert.ok(wasm > 0, 'the wasm module was loaded');
  assert.ok(sum(/\.trace$/) > 0, 'the trace was loaded');
  assert.ok(code < 300 * 1000, `wasm + JS + CSS + trace is ${code} bytes: keep it under 300 KB`);
  t.diagnostic(`transfer size: wasm + JS + CSS + trace ${code} bytes (wasm ${wasm}, trace ${sum(/\.trace$/)}); ` +
    `everything (HTML, README, pictures too) ${sum(/./)} bytes in ${resources.length} requests`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the page fits a phone screen', async () => {
  const { page, problems } = await open({ width: 390, height: 844 }, '?scenario=short-lived&step=8');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await page.screenshot({ path: path.join(screenshots, 'playground-390x844.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});
