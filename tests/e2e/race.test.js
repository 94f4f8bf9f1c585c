// "A race on your machine" (issue 18), in real headless Chromium: the race runs in a Web
// Worker and gives a figure for every allocator and workload, the page keeps drawing frames
// while it runs, Stop stops it, the results copy as a plain-text table, and the quoted README
// figures are the README's. The measured times are printed, never asserted.
//
//   make test-e2e          (builds www/ first)
//   CHROMIUM=/path/to/chromium node --test race.test.js

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startSession, screenshots } from './harness.js';

const README = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../README.md');
const ALLOCATORS = ['pool', 'sizeClasses', 'dlmalloc', 'heap'];
const WORKLOADS = ['pair', 'lifo', 'random'];

let session;
before(async () => { session = await startSession(); });
after(async () => { await session?.close(); });

/** The table's figures: { allocator: { workload: text } }. */
const table = (page) => page.$$eval('#figure-race tbody tr', (rows) => Object.fromEntries(rows.map((row) => [
  row.dataset.allocator,
  Object.fromEntries([...row.querySelectorAll('td[data-workload]')].map((cell) => [cell.dataset.workload, cell.querySelector('.race-here').textContent])),
])));

test('the race gives a time for every allocator and workload, in a worker, and copies as text', async (t) => {
  const { page, problems } = await session.open({ width: 1280, height: 900 }, '', {
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  const figure = page.locator('#figure-race');
  const raceModule = () => page.evaluate(() => performance.getEntriesByType('resource')
    .filter((entry) => entry.name.includes('/pkg-race/')).map((entry) => entry.name));
  assert.deepEqual(await raceModule(), [], 'the race\'s module is not loaded with the page');
  await figure.scrollIntoViewIfNeeded();
  await page.getByRole('button', { name: 'Start the race' }).click();
  // While the worker runs, the page's own thread keeps drawing frames.
  const frames = await page.evaluate(() => new Promise((resolve) => {
    let count = 0;
    let longest = 0;
    let last = performance.now();
    const began = last;
    const tick = (now) => {
      count += 1;
      longest = Math.max(longest, now - last);
      last = now;
      if (now - began < 1000) requestAnimationFrame(tick);
      else resolve({ count, longest });
    };
    requestAnimationFrame(tick);
  }));
  assert.equal(await figure.getAttribute('data-state'), 'running', 'the race was still running while frames were counted');
  assert.ok(frames.count >= 10, `the page drew ${frames.count} frames in 1 s of racing`);
  t.diagnostic(`while racing: ${frames.count} frames in 1 s, longest gap ${frames.longest.toFixed(0)} ms`);

  await page.waitForSelector('#figure-race[data-state="done"]', { timeout: 120000 });
  assert.equal(await page.$eval('#figure-race progress', (p) => p.value), 1);
  const figures = await table(page);
  for (const allocator of ALLOCATORS) {
    for (const workload of WORKLOADS) {
      const text = figures[allocator]?.[workload];
      assert.match(text ?? '', /^\d+(\.\d+)? (ns|µs)/, `${allocator} ${workload}: ${text}`);
    }
  }
  t.diagnostic(`measured here (ns per alloc+free): ${JSON.stringify(figures)}`);
  const status = await page.textContent('#figure-race .race-status');
  assert.match(status, /^Done\. Pair: .+ fastest at .+Random batch: .+ slowest at/);
  assert.equal(await page.getAttribute('#figure-race .race-status', 'aria-live'), 'polite');

  // The timeline: step 1 is the first result alone; keys move it; End is the whole table again.
  const range = page.getByRole('slider', { name: 'A race on your machine: step' });
  assert.equal(await range.getAttribute('max'), String(ALLOCATORS.length * WORKLOADS.length));
  await range.fill('1');
  const first = await table(page);
  const shown = Object.entries(first).flatMap(([a, row]) => Object.entries(row).filter(([, text]) => text !== '–').map(([w, text]) => `${a} ${w} ${text}`));
  assert.deepEqual(shown, [`pool pair ${figures.pool.pair}`], 'step 1 shows the first result only');
  assert.match(await page.textContent('#figure-race .race-step'), /^Step 1 of 12: Pool, pair: .+ · next: SizeClasses, pair: /);
  await range.focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute('#figure-race', 'data-step'), '2');
  await page.keyboard.press('End');
  assert.deepEqual(await table(page), figures, 'the last step is the whole race');

  await page.getByRole('button', { name: 'Copy results' }).click();
  await page.waitForFunction(() => document.querySelector('#figure-race .race-copied').textContent !== '');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const lines = copied.trim().split('\n');
  assert.equal(lines.length, 3 + ALLOCATORS.length, copied);
  for (const [i, name] of ['Pool', 'SizeClasses', 'dlmalloc', 'teaching Heap'].entries()) {
    const cells = lines[3 + i].split(' | ');
    assert.equal(cells[0], name);
    assert.deepEqual(cells.slice(1, 4), WORKLOADS.map((w) => figures[ALLOCATORS[i]][w]),
      'the copied text has the table\'s figures');
  }

  await page.setViewportSize({ width: 1280, height: 900 });
  await figure.screenshot({ path: path.join(screenshots, 'race-1280.png'), animations: 'disabled' });
  await page.setViewportSize({ width: 390, height: 844 });
  await figure.screenshot({ path: path.join(screenshots, 'race-390.png'), animations: 'disabled' });
  const overflow = await figure.evaluate((node) => node.scrollWidth - node.clientWidth);
  assert.ok(overflow <= 1, `the figure fits a phone's width (overflow ${overflow} px)`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('Stop stops the race: no progress and no new figure after it', async () => {
  const { page, problems } = await session.open({ width: 1280, height: 900 });
  await page.locator('#figure-race').scrollIntoViewIfNeeded();
  await page.getByRole('button', { name: 'Start the race' }).click();
  await page.waitForFunction(() => document.querySelector('#figure-race progress').value > 0.05, null, { timeout: 60000 });
  await page.getByRole('button', { name: 'Stop' }).click();
  const at = async () => ({
    progress: await page.$eval('#figure-race progress', (p) => p.value),
    figures: await table(page),
    state: await page.getAttribute('#figure-race', 'data-state'),
  });
  const stopped = await at();
  assert.equal(stopped.state, 'stopped');
  assert.ok(stopped.progress < 1, `stopped before the end (${stopped.progress})`);
  assert.match(await page.textContent('#figure-race .race-status'), /^Stopped at \d+%/);
  await page.locator('#figure-race').screenshot({ path: path.join(screenshots, 'race-stopped-1280.png'), animations: 'disabled' });
  // Long enough for several more cells had the worker kept going (each takes about 0.3 s).
  await page.waitForTimeout(2000);
  assert.deepEqual(await at(), stopped, 'nothing moved after Stop');
  assert.equal(await page.getByRole('button', { name: 'Stop' }).isDisabled(), true);
  assert.equal(await page.getByRole('button', { name: 'Race again' }).isEnabled(), true);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the README figures the race quotes are the README\'s benchmarks', async () => {
  const readme = await fs.readFile(README, 'utf8');
  const row = (label) => {
    const match = new RegExp(`^\\| ${label} \\| ([^|]+) \\| ([^|]+) \\|`, 'm').exec(readme);
    assert.ok(match, `the README's "${label}" row`);
    return match.slice(1).map((text) => Number.parseFloat(text));
  };
  const { page } = await session.open({ width: 1280, height: 900 });
  const quoted = await page.evaluate(async () => (await import('./js/race.js')).README_FIGURES);
  await page.close();
  for (const [label, workload] of [['native pair', 'pair'], ['native reverse', 'lifo'], ['native random', 'random']]) {
    assert.equal(quoted.pool.native[workload], row(label)[0], label);
  }
  for (const [label, workload] of [['wasm pair', 'pair'], ['wasm reverse', 'lifo'], ['wasm random', 'random']]) {
    const [pool, dlmalloc] = row(label);
    assert.equal(quoted.pool.node[workload], pool, `${label}, pool`);
    assert.equal(quoted.dlmalloc.node[workload], dlmalloc, `${label}, dlmalloc`);
  }
  const classes = /^\| one 64 B alloc \+ free \| ([\d.]+) ns/m.exec(readme);
  assert.equal(quoted.sizeClasses.native.pair, Number(classes[1]), 'SizeClasses pair');
});
