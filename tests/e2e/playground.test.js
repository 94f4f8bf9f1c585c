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
  await page.screenshot({ path: path.join(screenshots, 'playground-1280x800.png'), animations: 'disabled' });
  await page.screenshot({ path: path.join(screenshots, 'playground-1280-full.png'), fullPage: true, animations: 'disabled' });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the playground opens on a pool of its own; a leak played on it shows, and going back undoes its end', async () => {
  const { page, problems } = await open({ width: 1280, height: 800 });
  // The page does not open on a control panel: no scenario player, and the playground has a
  // pool of its own before any call.
  assert.equal(await page.$('#scenarios'), null);
  assert.deepEqual(await states(page), Array(8).fill('never used'));
  assert.equal(await page.inputValue('#block-size'), '32');
  assert.equal(await page.inputValue('#block-count'), '8');
  assert.match(await page.textContent('#pool-calls .call-now'), /^new Pool\(32, 8\)$/);
  assert.equal(await page.getAttribute('#pool-range', 'max'), '0');

  // A loop that allocates a buffer and a result per request, frees the buffer and forgets
  // the result: what the leak scenario played, now on the playground's own timeline.
  await page.fill('#block-size', '16');
  await page.fill('#block-count', '10');
  await page.click('#create');
  for (let n = 1; n <= 4; n++) {
    await page.fill('#request-size', '16');
    await page.click('#alloc'); // the buffer: block 0, popped again from the free list after request 1
    await page.fill('#request-size', '12');
    await page.click('#alloc'); // the result: the next never-used block
    await page.click('#pool-map button.block[data-index="0"]');
  }
  await page.click('#end-program');
  assert.equal(await page.getAttribute('#pool-range', 'max'), '13');
  assert.equal(await counter(page, 'leaks'), '4 blocks, 64 B');
  assert.equal((await states(page)).filter((s) => s === 'in use').length, 4);

  // One step back replays the first 12 calls: the program has not ended yet.
  await page.click('#pool-prev');
  assert.equal(await counter(page, 'leaks'), 'the program is still running');
  assert.equal((await states(page)).filter((s) => s === 'in use').length, 4);

  // A link from the days of the scenario player opens the page as it opens without one.
  const old = await open({ width: 1280, height: 800 }, '?scenario=misuse&step=3');
  assert.deepEqual(await states(old.page), Array(8).fill('never used'));
  assert.equal(await old.page.getAttribute('#pool-range', 'max'), '0');
  assert.deepEqual(old.problems, []);
  await old.page.close();

  assert.deepEqual(problems, []);
  await page.close();
});

test('pool vs heap: the heap fails with free bytes to spare, the pool does not', async () => {
  const { page, problems } = await open({ width: 1280, height: 800 });
  assert.match(await page.textContent('#compare-op'), /^Operation 0 of 29\. Nothing has run yet/);
  // The figure's own timeline, to its end; its text follows the workload's chapters.
  await page.focus('#compare-range');
  await page.keyboard.press('End');
  assert.match(await page.textContent('#compare-op'), /^Operation 29 of 29\. …and the next 64-byte requests fit again\..* This operation: alloc\(64\) for medium8: /);
  await page.keyboard.press('ArrowLeft');
  assert.match(await page.textContent('#compare-op'), /^Operation 28 of 29\. …and the next 64-byte requests fit again/);
  await page.keyboard.press('End');
  assert.equal(await page.textContent('dd[data-counter="failed-heap"]'), '2');
  assert.equal(await page.textContent('dd[data-counter="failed-pool"]'), '0');
  assert.equal(await page.textContent('dd[data-counter="fragmentation-pool"]'), '0%');
  assert.equal(await page.$$eval('#compare-chart polyline', (lines) => lines.length), 2);
  await page.locator('#compare').screenshot({ path: path.join(screenshots, 'compare-1280.png'), animations: 'disabled' });
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
  const { page, problems } = await open({ width: 390, height: 844 });
  // A few calls on the playground, so that its map has blocks in every state and arrows.
  for (let i = 0; i < 4; i++) await page.click('#alloc');
  await page.click('#pool-map button.block[data-index="1"]');
  await page.click('#pool-map button.block[data-index="3"]');
  assert.deepEqual((await states(page)).slice(0, 5), ['in use', 'free', 'in use', 'free', 'never used']);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await page.screenshot({ path: path.join(screenshots, 'playground-390x844.png'), fullPage: true, animations: 'disabled' });
  await page.locator('#more').screenshot({ path: path.join(screenshots, 'playground-panel-390.png'), animations: 'disabled' });
  assert.deepEqual(problems, []);
  await page.close();
});

/** Everything the free playground shows of its pool, and its bytes in linear memory. */
const playgroundState = (page) => page.evaluate(async () => {
  const map = document.querySelector('#pool-map');
  const wasm = await import('./pkg/memory_pool.js');
  const base = Number(map.dataset.regionBase);
  const length = Number(map.dataset.regionLength);
  return {
    step: document.querySelector('#pool-range').value,
    previous: document.querySelector('#pool-calls .call-prev').textContent,
    now: document.querySelector('#pool-calls .call-now').textContent,
    next: document.querySelector('#pool-calls .call-next').textContent,
    blocks: [...map.querySelectorAll('button.block')].map((b) => `${b.getAttribute('title')}|${b.textContent}|${b.disabled}`),
    stateBytes: [...map.querySelectorAll('.state-byte')].map((b) => b.textContent).join(' '),
    freeList: document.querySelector('#free-list-text').textContent,
    counters: document.querySelector('#counters').textContent,
    message: document.querySelector('#message').textContent,
    hex: document.querySelector('#hex').textContent,
    bytes: [...new Uint8Array(wasm.wasmMemory().buffer, base, length)].join(','),
  };
});

test('the free playground has a timeline: going back shows exactly the state each step had', async () => {
  const { page, problems } = await open({ width: 1280, height: 800 });
  await page.fill('#block-size', '32');
  await page.fill('#block-count', '6');
  await page.click('#create');
  const seen = [await playgroundState(page)];
  assert.equal(seen[0].step, '0');
  assert.equal(seen[0].now, 'new Pool(32, 6)');
  assert.match(seen[0].next, /^→ next: your next call/);
  // Every kind of operation, accepted and refused, each through the page's own controls.
  const operations = [
    async () => { await page.fill('#request-size', '24'); await page.click('#alloc'); },
    async () => { await page.fill('#request-size', '16'); await page.click('#alloc'); },
    () => page.click('#alloc'),
    () => page.click('#pool-map button.block[data-index="1"]'),
    () => page.click('#pool-map button.block[data-index="1"]'), // a double free, refused
    async () => { await page.selectOption('#write-block', '0'); await page.fill('#write-value', 'hello'); await page.click('#write'); },
    () => page.click('#misuse-middle'),
    () => page.click('#pool-map button.block[data-index="0"]'),
    () => page.click('#alloc'),
    () => page.click('#end-program'),
  ];
  for (const operation of operations) {
    await operation();
    seen.push(await playgroundState(page));
  }
  const last = operations.length;
  assert.equal(await page.getAttribute('#pool-range', 'max'), String(last));
  assert.equal(await page.getAttribute('#pool-range', 'aria-label'), 'The pool, live: step');
  assert.match(`${seen[5].previous}${seen[5].now}`, /^free\(0x[0-9a-f]+\) ←free\(0x[0-9a-f]+\): refused$/);
  assert.match(seen[6].now, /^write\(0x[0-9a-f]+, "hello"\)$/);
  assert.match(`${seen[last].previous}${seen[last].now}`, /^alloc\(16\) → 0x[0-9a-f]+ ←end\(\)$/);
  /** A step seen again: as it was, except that the label now knows the call after it. */
  const again = (k) => ({ ...seen[k], next: k < last ? `→ next: ${seen[k + 1].now}` : seen[k].next });

  // Back with the slider's keys, one step at a time: each step is exactly as it was.
  await page.focus('#pool-range');
  for (let k = last - 1; k >= 0; k--) {
    await page.keyboard.press('ArrowLeft');
    assert.deepEqual(await playgroundState(page), again(k), `back at step ${k}`);
  }
  // End, Home and the buttons.
  await page.keyboard.press('End');
  assert.deepEqual(await playgroundState(page), again(last), 'End');
  await page.keyboard.press('Home');
  assert.deepEqual(await playgroundState(page), again(0), 'Home');
  for (let k = 1; k <= 4; k++) {
    await page.click('#pool-next');
    assert.deepEqual(await playgroundState(page), again(k), `forward at step ${k}`);
  }
  await page.click('#pool-prev');
  assert.deepEqual(await playgroundState(page), again(3), 'previous');
  // The arrow keys work anywhere in the panel, not only on the slider (here: on a block).
  await page.focus('#pool-map button.block[data-index="2"]');
  await page.keyboard.press('ArrowRight');
  assert.deepEqual(await playgroundState(page), again(4), 'ArrowRight on a block');

  await page.locator('#playground').screenshot({ path: path.join(screenshots, 'playground-timeline-1280.png'), animations: 'disabled' });
  // A new call at an earlier step (4: block 1 just freed) replaces the steps after it, and
  // says so.
  await page.fill('#request-size', '8');
  await page.click('#alloc');
  assert.equal(await page.getAttribute('#pool-range', 'max'), '5');
  assert.match(await message(page), /^Done: alloc\(\) → 0x[0-9a-f]+, block 1: it popped the head of the free list.*the 6 later steps after it were dropped\.$/);
  assert.match(await page.textContent('#pool-calls'), /alloc\(8\) → 0x[0-9a-f]+→ next: your next call/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a link keeps the playground\'s moment: its calls are replayed on a new page, and a bad link is refused', async () => {
  const { page, problems } = await open({ width: 1280, height: 800 });
  assert.doesNotMatch(page.url(), /pool/, 'the pool the page opens on needs no link');
  await page.fill('#block-size', '16');
  await page.fill('#block-count', '5');
  await page.click('#create');
  const operations = [
    async () => { await page.fill('#request-size', '16'); await page.click('#alloc'); },
    async () => { await page.fill('#request-size', '12'); await page.click('#alloc'); },
    () => page.click('#pool-map button.block[data-index="0"]'),
    // A text with the link's own separators and markup in it: written as it was typed.
    async () => { await page.selectOption('#write-block', '1'); await page.fill('#write-value', 'a.b_c, <b>~%'); await page.click('#write'); },
    () => page.click('#misuse-double'),
    () => page.click('#misuse-outside'),
    () => page.click('#misuse-middle'),
    () => page.click('#alloc'),
    () => page.click('#end-program'),
  ];
  const seen = [await playgroundState(page)];
  for (const operation of operations) {
    await operation();
    seen.push(await playgroundState(page));
  }
  assert.match(seen[4].hex, /61 2e 62 5f 63 2c 20 3c .*62 3e 7e 25 /s, 'the text\'s bytes, as typed');
  const links = [];
  for (const k of [operations.length, 4, 0]) {
    await page.focus('#pool-range');
    await page.keyboard.press('End');
    for (let i = operations.length; i > k; i--) await page.keyboard.press('ArrowLeft');
    assert.equal((await playgroundState(page)).step, String(k));
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('pool'), '16x5');
    assert.match(url.searchParams.get('pool-ops'), /^a16\.a12\.f0\.w1_[^.]+\.d\.o\.m\.a12\.e$/);
    assert.equal(url.searchParams.get('pool-step'), String(k));
    links.push([k, url.search]);
  }
  for (const [k, search] of links) {
    const shared = await open({ width: 1280, height: 800 }, search);
    const state = await playgroundState(shared.page);
    // Seen again, the step's label knows the call after it.
    const expected = { ...seen[k], next: k < operations.length ? `→ next: ${seen[k + 1].now}` : seen[k].next };
    assert.deepEqual(state, expected, `the link to step ${k} shows that step`);
    assert.equal(await shared.page.inputValue('#block-size'), '16');
    assert.equal(new URL(shared.page.url()).search, search, 'the link stays as it was');
    assert.deepEqual(shared.problems, []);
    await shared.page.close();
  }

  // The address is untrusted input: a bad link is refused with a message, and the page opens
  // on its first pool.
  const bad = [
    ['?pool=999x1', /not replayed: The block size must be a whole number from 4 to 256/],
    ['?pool=32', /not replayed: the pool must be written SIZExCOUNT/],
    [`?pool=32x8&pool-ops=a24.${encodeURIComponent('<img src=x onerror=alert(1)>')}`, /not replayed: "<img src=x onerror=a" is not one of its operations/],
    ['?pool=32x8&pool-ops=a1e309', /not replayed: "a1e309" is not one of its operations/],
    [`?pool=32x8&pool-ops=${'a8.'.repeat(10000)}a8`, /not replayed: it has 10001 steps; a link keeps at most 400/],
    ['?pool=32x8&pool-ops=f9', /not replayed: its pool has no block 9/],
    ['?pool=32x8&pool-ops=w0_%25E0%25A4%25A', /not replayed: the text written by "w0_%E0%A4%A" is not valid/],
    ['?pool=32x8&pool-ops=a8&pool-step=-1', /not replayed: its step must be a whole number/],
  ];
  for (const [search, refusal] of bad) {
    const shared = await open({ width: 1280, height: 800 }, search);
    assert.match(await message(shared.page), refusal, search.slice(0, 60));
    assert.deepEqual(await states(shared.page), Array(8).fill('never used'));
    assert.equal(await shared.page.getAttribute('#pool-range', 'max'), '0');
    assert.doesNotMatch(shared.page.url(), /pool/, 'the refused link is dropped from the address');
    assert.deepEqual(shared.problems, []);
    await shared.page.close();
  }
  assert.deepEqual(problems, []);
  await page.close();
});
