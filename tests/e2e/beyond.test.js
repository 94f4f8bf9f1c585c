// Issue 18's sections, in real headless Chromium: what only a real allocator in the browser
// can show. One page load per section, so that `make test` stays fast.
//
//   make test-e2e          (builds www/ first)
//   CHROMIUM=/path/to/chromium node --test beyond.test.js

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSession, screenshots } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));

let session;
before(async () => { session = await startSession(); });
after(async () => { await session?.close(); });
const DESKTOP = { width: 1280, height: 800 };

/** Moves figure `id` to step `k` with its slider (as a reader dragging it would). */
async function goTo(page, id, k) {
  await page.$eval(`#figure-${id} .step-range`, (range, step) => {
    range.value = String(step);
    range.dispatchEvent(new Event('input', { bubbles: true }));
  }, k);
  assert.equal(await page.getAttribute(`#figure-${id}`, 'data-step'), String(k));
}

const counterOf = (page, id, name) => page.textContent(`#figure-${id} dd[data-counter="${name}"]`);

test('use after free: the overwritten link shows in the bytes, and what the checks did with it', async () => {
  const { page, problems } = await session.open(DESKTOP);
  const id = 'use-after-free';
  await page.locator(`#figure-${id}`).scrollIntoViewIfNeeded();

  // Step 5: b freed, so block 1's first 4 bytes are a link to block 0.
  await goTo(page, id, 5);
  const region = await page.$eval(`#figure-${id}`, (f) => ({ base: Number(f.dataset.regionBase) }));
  const linkOf = () => page.evaluate(async () => {
    const wasm = await import('./pkg/memory_pool.js');
    const figure = document.querySelector('#figure-use-after-free');
    // Block 1's link, read from linear memory: the first word of block 1.
    const blocks = [...figure.querySelectorAll('.figure-map button.block')];
    const address = Number.parseInt(blocks[1].querySelector('.b-addr').textContent, 16);
    return new DataView(wasm.wasmMemory().buffer).getUint32(address, true);
  });
  const block0 = await page.$eval(`#figure-${id} button.block[data-index="0"] .b-addr`, (node) => Number.parseInt(node.textContent, 16));
  assert.equal(await linkOf(), block0, 'before the bug, block 1 links to block 0');

  // Step 6: the write through the stale pointer lands on that link.
  await goTo(page, id, 6);
  assert.equal(await linkOf(), 42, 'the real bytes in linear memory hold 42');
  const changed = await page.$$eval(`#figure-${id} .hex-view .byte.changed`, (bytes) =>
    bytes.map((b) => [Number(b.dataset.offset), b.textContent]));
  const block1 = await page.$eval(`#figure-${id} button.block[data-index="1"] .b-addr`, (node) => Number.parseInt(node.textContent, 16));
  // Marked: exactly the bytes of the link where block 0's address and 42 differ.
  const bytesOf = (word) => [0, 1, 2, 3].map((i) => (word >>> (8 * i)) & 0xff);
  const expected = bytesOf(42).map((byte, i) => [block1 - region.base + i, byte.toString(16).padStart(2, '0'), byte !== bytesOf(block0)[i]])
    .filter(([, , differs]) => differs).map(([offset, text]) => [offset, text]);
  assert.ok(expected.length >= 2);
  assert.deepEqual(changed, expected, 'exactly the link\'s changed bytes are marked');
  assert.match(await page.textContent(`#figure-${id} .changes`), /block 1's first 4 bytes \(its free-list link\): now 0x2a/);
  assert.match(await page.textContent(`#figure-${id} button.block[data-index="1"] .b-link`), /next: 0x2a\?/);
  assert.equal(await counterOf(page, id, 'damaged'), '0', 'no check runs on a write');

  // Step 8: the pool refuses to follow 0x2a, drops the list, and block 0 is lost.
  await goTo(page, id, 8);
  assert.equal(await counterOf(page, id, 'damaged'), '1');
  assert.match(await page.textContent(`#figure-${id} button.block[data-index="0"]`), /lost: no link leads here/);
  assert.match(await page.textContent(`#figure-${id} .call-now`), /e = alloc\(16\) → 0x/);
  assert.equal(await page.getAttribute(`#figure-${id} button.block[data-index="3"]`, 'data-state'), 'in use', 'e got a never-used block');

  // Step 9: the stale pointer writes into d's data: one byte changes, no check sees it.
  await goTo(page, id, 9);
  assert.match(await page.textContent(`#figure-${id} .changes`), /changed 1 byte .*block 1, 1 byte from offset 0/);
  assert.equal(await counterOf(page, id, 'damaged'), '1');

  // Steps 13–14: a forged link to a block in use is refused too; then the pool is "full".
  await goTo(page, id, 13);
  assert.equal(await counterOf(page, id, 'damaged'), '2');
  await goTo(page, id, 14);
  assert.match(await page.textContent(`#figure-${id} .call-now`), /h = alloc\(16\) → null/);
  assert.equal(await page.getAttribute(`#figure-${id} button.block[data-index="0"]`, 'data-state'), 'free');

  await goTo(page, id, 6);
  await page.locator(`#figure-${id}`).screenshot({ path: path.join(screenshots, 'beyond-use-after-free.png') });
  assert.deepEqual(problems, []);
  await page.close();
});

/** `tests/readme_trace.expected`: the final counters of the Rust replay of the same trace. */
async function expectedTrace() {
  const text = await fs.readFile(path.resolve(here, '../readme_trace.expected'), 'utf8');
  return Object.fromEntries(text.split('\n').filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(' ')).map(([name, value]) => [name, Number(value)]));
}

const valueOf = (page, name) => page.getAttribute(`#figure-trace dd[data-counter="${name}"]`, 'data-value').then(Number);

test("a real program's heap: the page's replay ends where the Rust replay of the same trace ends", async () => {
  const { page, problems } = await session.open(DESKTOP);
  await page.waitForSelector('#figure-trace[data-ready="true"]', { timeout: 15000 });
  await page.locator('#figure-trace').scrollIntoViewIfNeeded();
  const expected = await expectedTrace();
  const last = Number(await page.getAttribute('#figure-trace .step-range', 'max'));
  assert.equal(last, expected.events, 'every event of the trace is a step');

  // To the end with the keyboard: the counters are what tests/trace.rs's wasm32 run ends with.
  await page.focus('#figure-trace .step-range');
  await page.keyboard.press('End');
  assert.equal(await page.getAttribute('#figure-trace', 'data-step'), String(last));
  const final = {
    requested: await valueOf(page, 'requested'),
    peak_requested: await valueOf(page, 'peak-requested'),
    'heap32.reserved': await valueOf(page, 'heap-reserved'),
    'heap32.searched': await valueOf(page, 'heap-searched'),
    'heap32.failed': await valueOf(page, 'heap-failed'),
    'classes.reserved': await valueOf(page, 'classes-reserved'),
    'classes.wasm32.held': await valueOf(page, 'classes-held'),
  };
  assert.deepEqual(final, Object.fromEntries(Object.keys(final).map((name) => [name, expected[name]])));
  const fragmentation = 1 - expected['heap32.largest_free'] / expected['heap32.free'];
  assert.ok(Math.abs(await valueOf(page, 'heap-fragmentation') - fragmentation) < 1e-12);

  // Back to a step in the middle: the allocators' state there is what a fresh replay has.
  const k = 1000;
  await goTo(page, 'trace', k);
  const shown = await page.$$eval('#figure-trace dd[data-counter]', (dds) => dds.map((dd) => Number(dd.dataset.value)));
  const fresh = await page.evaluate(async (step) => {
    const wasm = await import('./pkg/memory_pool.js');
    const bytes = new Uint8Array(await (await fetch('trace/readme.trace')).arrayBuffer());
    const replay = new wasm.TraceReplay(bytes);
    replay.seek(step);
    const [requested, peak, heapReserved, heapFree, heapLargest, searched, failed, classesReserved, held] = replay.counters();
    replay.destroy();
    return [requested, peak, heapReserved, 1 - heapLargest / heapFree, searched, failed, classesReserved,
      classesReserved === 0 ? 0 : 1 - requested / classesReserved, held];
  }, k);
  assert.deepEqual(shown, fresh, `step ${k}, reached backwards, is a fresh replay's step ${k}`);
  assert.match(await page.textContent('#figure-trace .call-now'), /^(alloc|free|realloc)\(/);
  assert.equal(await page.$$eval('#figure-trace svg.trace-chart polyline', (lines) => lines.length), 6);

  await page.locator('#figure-trace').screenshot({ path: path.join(screenshots, 'beyond-trace.png') });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a million blocks: the heat map is redrawn within a frame after a random batch, and shows neighbours', async (t) => {
  const { page, problems } = await session.open(DESKTOP);
  await page.locator('#figure-million').scrollIntoViewIfNeeded();
  await page.click('#figure-million .million-make');
  await page.waitForSelector('#figure-million[data-ready="true"]');
  const counter = async (name) => Number((await page.textContent(`#figure-million dd[data-counter="${name}"]`)).replace(/,/g, ''));
  assert.equal(await counter('in-use'), 400000);
  assert.equal(await counter('free') + await counter('in-use') + await counter('never-used'), 1048576);

  // The map is drawn from the state bytes: its pixels show in-use blocks where memory says so.
  const states = () => page.evaluate(async () => {
    const wasm = await import('./pkg/memory_pool.js');
    const figure = document.querySelector('#figure-million');
    return figure.dataset.ready && wasm.wasmMemory().buffer.byteLength;
  });
  assert.ok(await states() > 64 << 20, 'the pool lives in linear memory');

  // Batches of 5,000 random frees and 5,000 allocations; each redraw timed by the page.
  const times = [];
  const shown = () => page.$$eval('#figure-million dd[data-counter]', (dds) =>
    dds.filter((dd) => dd.dataset.counter !== 'redraw-ms').map((dd) => `${dd.dataset.counter} ${dd.textContent}`));
  let atStep3;
  for (let i = 0; i < 7; i++) {
    await page.click('#figure-million .million-batch');
    times.push(Number(await page.getAttribute('#figure-million', 'data-redraw-ms')));
    if (i === 2) atStep3 = await shown();
  }
  assert.equal(await page.getAttribute('#figure-million', 'data-step'), '7');
  assert.equal(await counter('in-use'), 400000, 'as many allocated as freed');
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  t.diagnostic(`heat map redraw of 1,048,576 blocks after a batch: median ${median.toFixed(2)} ms, ` +
    `best ${sorted[0].toFixed(2)} ms, all ${times.map((ms) => ms.toFixed(1)).join(', ')} ms`);
  // Printed, not asserted: a timing depends on what else the machine runs. The page did time
  // every redraw.
  assert.ok(times.every((ms) => Number.isFinite(ms) && ms > 0), `redraw times: ${times}`);
  // Neighbours: 5,000 blocks handed out after frees all over the pool lie in few chunks.
  const chunks = await counter('batch-chunks');
  // (A single free list would hand out the 5,000 blocks just freed, one here and one there:
  // in about as many chunks as blocks. Chunk lists give runs of neighbours.)
  t.diagnostic(`the last 5,000 blocks handed out lie in ${chunks} chunks of 16 KiB`);
  assert.ok(chunks * 8 <= 5000, `the last 5,000 blocks lie in ${chunks} chunks: fewer than 8 neighbours to a chunk`);
  assert.match(await page.textContent('#figure-million .caption'), /they lie in \d+ chunks, \d+ neighbours to a chunk/);

  // The timeline: back to step 3 is the pool made afresh and 3 batches replayed, as it was.
  await goTo(page, 'million', 3);
  assert.deepEqual(await shown(), atStep3, 'step 3, reached backwards, is step 3 as it was played');
  await page.click('#figure-million .step-next');
  assert.equal(await page.getAttribute('#figure-million', 'data-step'), '4');
  await goTo(page, 'million', 7);

  // Zoom to single blocks (the last batch's), where each free block shows its place in its list.
  for (let i = 0; i < 6; i++) await page.click('#figure-million button[aria-label$="zoom in"]');
  assert.equal(await page.textContent('#figure-million .zoom-label'), '32 px per block');
  await page.locator('#figure-million').screenshot({ path: path.join(screenshots, 'beyond-million-zoomed.png') });
  await page.click('#figure-million button[aria-label$="zoom out"]', { clickCount: 1 });
  for (let i = 0; i < 5; i++) await page.click('#figure-million button[aria-label$="zoom out"]');
  assert.equal(await page.textContent('#figure-million .zoom-label'), 'whole pool');
  await page.locator('#figure-million').screenshot({ path: path.join(screenshots, 'beyond-million.png') });
  assert.deepEqual(problems, []);
  await page.close();
});

test("this page's own heap: its numbers change after a call that allocates, and the call is named", async () => {
  const { page, problems } = await session.open(DESKTOP);
  // (The trace's replay loads on its own: let the page settle first.)
  await page.waitForSelector('#figure-trace[data-ready="true"]');
  await page.locator('#figure-page-heap').scrollIntoViewIfNeeded();
  await page.waitForSelector('#figure-page-heap dd[data-counter="allocs"]');
  const value = (name) => page.getAttribute(`#figure-page-heap dd[data-counter="${name}"]`, 'data-value').then(Number);
  const before = await value('allocs');
  assert.ok(before > 0, 'the page has already allocated through the module');
  // What the figure shows now, read at once (it may redraw between two reads).
  const [numberBefore, allocsBefore, tableBefore] = await page.$eval('#figure-page-heap', (figure) => [
    Number(figure.dataset.callNumber), Number(figure.querySelector('dd[data-counter="allocs"]').dataset.value),
    figure.querySelector('tbody').textContent]);
  // The module's own count of allocations, read without allocating. (Frees are not compared:
  // JavaScript's garbage collector frees a dropped handle's box whenever it likes.)
  const allocations = () => page.evaluate(async () => {
    const heap = (await import('./pkg/memory_pool.js')).ownHeap();
    let total = 0;
    for (let at = 5; at < heap.length; at += 7) total += heap[at];
    return total;
  });

  // A call that allocates: a Pool handle (boxed), and freeList()'s array (a Vec, then freed).
  await page.click('#figure-page-heap .own-heap-call');
  await page.waitForFunction((n) => Number(document.querySelector('#figure-page-heap dd[data-counter="allocs"]').dataset.value) > n, before);
  assert.ok(await value('allocs') > before);
  // The figure redraws once a frame, so other figures' calls in the same moment may land a
  // frame later: within a second the figure and the module agree.
  let shown = await value('allocs');
  let counted = await allocations();
  for (let tries = 0; shown !== counted && tries < 20; tries++) {
    await page.waitForTimeout(50);
    [shown, counted] = [await value('allocs'), await allocations()];
  }
  assert.equal(shown, counted, 'the figure shows the module\'s own count');
  assert.match(await page.textContent('#figure-page-heap .own-heap-calls'), /pool\.freeList\(\) — \d+ heap calls?: alloc \d+ B \(class \d+\)/);
  assert.match(await page.textContent('#figure-page-heap .caption'), /The last call that allocated: pool\.freeList\(\)\./);

  // The timeline: back to the step shown before the click, the heap exactly as it was then;
  // ▶ from there names the next call; End (the slider's key) comes back to now.
  // (The timeline keeps the last 64 calls, so a step's index can shift as old ones go: the
  // figure also says which call a step is, counted since it was made.)
  const last = Number(await page.getAttribute('#figure-page-heap', 'data-step'));
  const numberNow = Number(await page.getAttribute('#figure-page-heap', 'data-call-number'));
  assert.ok(numberNow > numberBefore, `the click made steps (call ${numberBefore} → ${numberNow})`);
  await page.$eval('#figure-page-heap-range', (range, k) => {
    range.value = String(k);
    range.dispatchEvent(new Event('input'));
  }, last - (numberNow - numberBefore));
  assert.equal(await page.getAttribute('#figure-page-heap', 'data-call-number'), String(numberBefore));
  assert.equal(await value('allocs'), allocsBefore, 'back at the earlier step, the earlier count');
  assert.equal(await page.textContent('#figure-page-heap tbody'), tableBefore, 'and the earlier classes');
  await page.click('#figure-page-heap .step-next');
  assert.equal(await page.getAttribute('#figure-page-heap', 'data-call-number'), String(numberBefore + 1));
  assert.ok(await value('allocs') > allocsBefore);
  await page.focus('#figure-page-heap-range');
  await page.keyboard.press('End');
  const end = await page.getAttribute('#figure-page-heap-range', 'max');
  assert.ok(Number(end) >= last);
  assert.equal(await page.getAttribute('#figure-page-heap', 'data-step'), end);
  assert.ok(await value('allocs') >= shown);
  // A figure's step calls into the module too (its map reads the pool's block states).
  const moved = await value('allocs');
  await page.click('#figure-pool .step-next');
  await page.locator('#figure-page-heap').scrollIntoViewIfNeeded();
  await page.waitForFunction((n) => Number(document.querySelector('#figure-page-heap dd[data-counter="allocs"]').dataset.value) > n, moved);
  assert.match(await page.textContent('#figure-page-heap .own-heap-calls'), /pool\.(blockStates|freeList)\(\)/);
  assert.ok(await page.$$eval('#figure-page-heap tbody tr', (rows) => rows.length) >= 2, 'several classes in use');

  await page.locator('#figure-page-heap').screenshot({ path: path.join(screenshots, 'beyond-own-heap.png') });
  assert.deepEqual(problems, []);
  await page.close();
});
