// The story and its live figures (issue 17), in real headless Chromium: the README's learner
// part and only it, each figure's timeline (replay: the same state whichever way the reader
// got there), the bytes each call writes, predict-then-check, the reader's own calls and
// hostile links to them, the keyboard, reduced motion, a phone screen, axe-core.
//
//   make test-e2e          (builds www/ first)
//   CHROMIUM=/path/to/chromium node --test story.test.js

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startSession, screenshots } from './harness.js';

const require = createRequire(import.meta.url);
const README = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../README.md');

let session;
before(async () => { session = await startSession(); });
after(async () => { await session?.close(); });
const open = (viewport, query, options) => session.open(viewport, query, options);
const DESKTOP = { width: 1280, height: 800 };

/** The story's figures, in the order the README places them. */
const STORY_FIGURES = ['heap', 'fragmentation', 'leak', 'overhead', 'pool', 'safety'];

/** Everything a figure shows of its allocator's state, as text. */
const figureState = (page, id) => page.$eval(`#figure-${id}`, (figure) => ({
  step: figure.dataset.step,
  calls: figure.querySelector('.call-label').textContent,
  caption: figure.querySelector('.caption').textContent,
  map: [...figure.querySelectorAll('.figure-map [title]')].map((node) => node.getAttribute('title')),
  mapText: figure.querySelector('.figure-map').textContent,
  hex: [...figure.querySelectorAll('.hex-view .byte')].map((b) => `${b.dataset.offset}:${b.textContent}${b.classList.contains('changed') ? '*' : ''}`).join(' '),
  changes: figure.querySelector('.changes').textContent,
  counters: figure.querySelector('.figure-counters').textContent,
}));

/** The region's bytes, read straight from the module's linear memory (not from the view). */
const regionBytes = (page, id) => page.evaluate(async (figureId) => {
  const figure = document.querySelector(`#figure-${figureId}`);
  const wasm = await import('./pkg/memory_pool.js');
  const base = Number(figure.dataset.regionBase);
  const length = Number(figure.dataset.regionLength);
  return [...new Uint8Array(wasm.wasmMemory().buffer, base, length)];
}, id);

const stepOf = async (page, id) => Number(await page.getAttribute(`#figure-${id}`, 'data-step'));

test('README keeps the learner part as plain Markdown between its story markers', async () => {
  const readme = await fs.readFile(README, 'utf8');
  const start = readme.indexOf('<!-- story:start -->');
  const end = readme.indexOf('<!-- story:end -->');
  assert.ok(start > 0 && end > start, 'both story markers, in order');
  const story = readme.slice(start, end);
  for (const heading of ['## Background: dynamic memory allocation', '### Fragmentation', '### Leaks',
    '### Overhead', '## Overview: the pool', '### Misuse is refused', '### Pool vs heap on the same workload']) {
    assert.ok(story.includes(`\n${heading}\n`), `the story has the Markdown heading ${heading}`);
  }
  for (const name of [...STORY_FIGURES, 'compare', 'playground']) {
    assert.ok(story.includes(`<!-- figure: ${name} -->`), `a marker for the ${name} figure`);
  }
  // Plain Markdown: no HTML but comments, and the one picture GitHub shows in place of a figure.
  const githubOnly = /<!-- github-only:start -->[\s\S]*?<!-- github-only:end -->/g;
  const tags = story.replace(githubOnly, '').replace(/<!--[\s\S]*?-->/g, '').match(/<[a-z/][^>]*>/gi);
  assert.deepEqual(tags, null, 'no HTML tags in the story part');
  // The developer sections stay outside the story.
  for (const heading of ['## Using the crate', '## The wasm boundary', '## How the code is laid out',
    '## How it is tested', '## Benchmarks']) {
    assert.ok(readme.includes(heading) && !story.includes(heading), `${heading} is outside the story`);
  }
});

test('the page shows exactly the story, a live figure at each marker, one link to the developer part', async () => {
  const { page, problems } = await open(DESKTOP);
  const text = await page.textContent('#explanation');
  assert.match(text, /Background: dynamic memory allocation/);
  assert.match(text, /Overview: the pool/);
  for (const developer of ['Using the crate', 'How the code is laid out', 'How it is tested', 'Benchmarks', 'make serve']) {
    assert.ok(!text.includes(developer), `"${developer}" is not in the story`);
  }
  const order = await page.$$eval('#explanation > figure.live-figure, #explanation > section#compare, #explanation > section#own-calls',
    (nodes) => nodes.map((node) => node.dataset.figure ?? node.id));
  // (Issue 18's sections come after pool vs heap: tests/e2e/beyond.test.js.)
  assert.deepEqual(order, [...STORY_FIGURES, 'compare', 'use-after-free', 'trace', 'million', 'page-heap', 'race', 'own-calls']);
  assert.equal(await page.$$eval('#explanation .figure-slot', (slots) => slots.length), 0, 'every slot was filled');
  const developerLinks = await page.$$eval('#explanation a[href^="developer.html"]', (links) => links.length);
  assert.equal(developerLinks, 1);
  // Each figure runs on its own instance: its own region.
  const bases = await page.$$eval('figure.live-figure[data-region-base]', (figures) => figures.map((f) => f.dataset.regionBase));
  assert.equal(new Set(bases).size, bases.length, 'no two figures share a region');
  // The developer page is the whole README.
  const developer = await page.context().request.get(new URL('developer.html', page.url()).href);
  assert.match(await developer.text(), /How it is tested/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('every figure: scrubbing back to step k shows what playing forward to k on a fresh page shows', async () => {
  const scrubbed = await open(DESKTOP);
  const forward = await open(DESKTOP);
  // Links to a step: the first figure's opens a fresh page; the others are followed on that
  // page (a link in the prose or the address bar's hash: the same code from there on).
  let linked = null;
  for (const id of STORY_FIGURES) {
    const last = Number(await scrubbed.page.getAttribute(`#figure-${id} .step-range`, 'max'));
    const k = Math.max(1, last - 3);
    // Scrub: to the end, then back with the slider's own keys.
    await scrubbed.page.focus(`#figure-${id} .step-range`);
    await scrubbed.page.keyboard.press('End');
    assert.equal(await stepOf(scrubbed.page, id), last);
    for (let i = last; i > k; i--) await scrubbed.page.keyboard.press('ArrowLeft');
    assert.equal(await stepOf(scrubbed.page, id), k);
    // Forward, one call at a time, on a page that never went further.
    for (let i = 0; i < k; i++) await forward.page.click(`#figure-${id} .step-next`);
    const a = await figureState(scrubbed.page, id);
    const b = await figureState(forward.page, id);
    assert.deepEqual(a, b, `${id} at step ${k}`);
    assert.deepEqual(await regionBytes(scrubbed.page, id), await regionBytes(forward.page, id), `${id}: the bytes in memory`);
    // And a link to that step (the URL keeps it) opens the same state.
    if (linked) {
      await linked.page.evaluate((hash) => { location.hash = hash; }, `#figure-${id}-step-${k}`);
      await linked.page.waitForFunction(([figureId, step]) => document.querySelector(`#figure-${figureId}`).dataset.step === String(step), [id, k]);
    } else {
      linked = await open(DESKTOP, `#figure-${id}-step-${k}`);
    }
    assert.deepEqual(await figureState(linked.page, id), a, `${id}: the link to step ${k}`);
    assert.match(scrubbed.page.url(), new RegExp(`#figure-${id}-step-${k}$`), 'the URL keeps figure and step');
  }
  assert.deepEqual(linked.problems, []);
  await linked.page.close();
  assert.deepEqual(scrubbed.problems, []);
  assert.deepEqual(forward.problems, []);
  await scrubbed.page.close();
  await forward.page.close();
});

test('pool vs heap has a timeline too: back to step k is what forward to k shows', async () => {
  const compareState = (page) => page.$eval('#compare', (section) => ({
    calls: section.querySelector('#compare-calls').textContent,
    op: section.querySelector('#compare-op').textContent,
    pool: section.querySelector('#compare-pool').textContent,
    heap: section.querySelector('#compare-heap').textContent,
  }));
  const scrubbed = await open(DESKTOP);
  await scrubbed.page.focus('#compare-range');
  await scrubbed.page.keyboard.press('End');
  for (let i = 0; i < 5; i++) await scrubbed.page.keyboard.press('ArrowLeft');
  const k = Number(await scrubbed.page.inputValue('#compare-range'));
  assert.equal(k, Number(await scrubbed.page.getAttribute('#compare-range', 'max')) - 5);
  const forward = await open(DESKTOP);
  for (let i = 0; i < k; i++) await forward.page.click('#compare-next');
  assert.deepEqual(await compareState(scrubbed.page), await compareState(forward.page));
  assert.match(await scrubbed.page.textContent('#compare-calls'), / ←.*→ next: /);
  assert.deepEqual(scrubbed.problems, []);
  assert.deepEqual(forward.problems, []);
  await scrubbed.page.close();
  await forward.page.close();
});

test('pool vs heap asks first: which allocator will refuse the next request?', async () => {
  const { page, problems } = await open(DESKTOP);
  await page.focus('#compare-range');
  let guard = 0;
  while (!(await page.isVisible('#compare-question')) && guard++ < 40) await page.keyboard.press('ArrowRight');
  const asked = Number(await page.inputValue('#compare-range'));
  assert.match(await page.textContent('#compare-question'), /Which allocator will refuse it\?/);
  await page.click('#compare-question button[data-guess="pool"]');
  assert.equal(Number(await page.inputValue('#compare-range')), asked + 1, 'the real call ran');
  assert.match(await page.textContent('#compare-verdict'), /^Not this time: the heap refused it, because the heap has \d+ free bytes, but its largest hole serves only \d+/);
  assert.equal(await page.textContent('dd[data-counter="failed-heap"]'), '1');
  await page.click('#compare-prev');
  assert.equal(await page.textContent('#compare-verdict'), '');
  await page.click('#compare-question button[data-guess="heap"]');
  assert.match(await page.textContent('#compare-verdict'), /^Right: the heap refused it/);
  await page.locator('#compare').screenshot({ path: path.join(screenshots, 'figure-compare-predicted.png'), animations: 'disabled' });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the bytes marked after a free are exactly the bytes that free changed, and are named', async () => {
  const { page, problems } = await open(DESKTOP);
  // The pool: free(b) at step 4, free(a) at step 5. The heap: free(b) at step 4.
  for (const [id, step, named] of [
    ['pool', 4, /state byte 1: 02 → 01 \(free\).*block 1's first 4 bytes \(its free-list link\): now the end mark/],
    ['pool', 5, /state byte 0: 02 → 01.*block 0's first 4 bytes \(its free-list link\): now block 1's address/],
    ['heap', 4, /the header at 0x[0-9a-f]+: 0xd → 0xc \(block size 12 bytes, free\)/],
  ]) {
    await page.click(`#figure-${id} .step-next`); // make sure the figure moved at least once
    await page.evaluate(([figureId, k]) => { location.hash = `#figure-${figureId}-step-${k - 1}`; }, [id, step]);
    await page.waitForFunction(([figureId, k]) => document.querySelector(`#figure-${figureId}`).dataset.step === String(k - 1), [id, step]);
    const beforeBytes = await regionBytes(page, id);
    await page.click(`#figure-${id} .step-next`);
    assert.equal(await stepOf(page, id), step);
    const afterBytes = await regionBytes(page, id);
    const changed = afterBytes.flatMap((byte, i) => (byte !== beforeBytes[i] ? [i] : []));
    assert.ok(changed.length > 0, `${id} step ${step} changed some bytes`);
    const marked = await page.$$eval(`#figure-${id} .hex-view .byte.changed`, (bytes) => bytes.map((b) => Number(b.dataset.offset)));
    assert.deepEqual(marked, changed, `${id} step ${step}: the marks`);
    const shown = await page.$$eval(`#figure-${id} .hex-view .byte.changed`, (bytes) => bytes.map((b) => Number.parseInt(b.textContent, 16)));
    assert.deepEqual(shown, changed.map((i) => afterBytes[i]), 'the marked bytes show their new values');
    assert.match(await page.textContent(`#figure-${id} .changes`), named);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('misuse refused: the safety figure\'s bad frees change no byte and say why', async () => {
  const { page, problems } = await open(DESKTOP, '#figure-safety-step-3');
  const expected = [/double free: block 0 at 0x[0-9a-f]+ is already free/, /misaligned free: 0x[0-9a-f]+ is 8 bytes into block 1/,
    /0x40 is not a block of this pool/];
  for (const message of expected) {
    const beforeBytes = await regionBytes(page, 'safety');
    const counters = await page.$$eval('#figure-safety dd', (dds) => dds.map((dd) => `${dd.dataset.counter}=${dd.textContent}`));
    await page.click('#figure-safety .step-next');
    assert.match(await page.textContent('#figure-safety .caption'), message);
    assert.match(await page.textContent('#figure-safety .call-now'), /refused/);
    assert.equal(await page.textContent('#figure-safety .changes'), 'No byte of the region changed.');
    assert.deepEqual(await regionBytes(page, 'safety'), beforeBytes);
    const now = await page.$$eval('#figure-safety dd', (dds) => dds.map((dd) => `${dd.dataset.counter}=${dd.textContent}`));
    assert.deepEqual(now.filter((c) => !c.startsWith('rejected')), counters.filter((c) => !c.startsWith('rejected')));
  }
  // After free(b), the figure asks which block comes next: b's, freed last, as if no mistake
  // had been made in between.
  await page.click('#figure-safety .step-next');
  assert.equal(await page.isVisible('#figure-safety .question'), true, 'the figure asks before the last alloc');
  assert.equal(await page.isDisabled('#figure-safety button.block[data-index="1"]'), false);
  await page.click('#figure-safety button.block[data-index="1"]');
  assert.equal(await stepOf(page, 'safety'), 8);
  assert.match(await page.textContent('#figure-safety .verdict'), /^Right: alloc\(\) handed out block 1, because block 1 is the head of the free list/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('predict, then check: a right guess and a wrong one, each with the reason', async () => {
  const { page, problems } = await open(DESKTOP, '#figure-pool-step-5');
  assert.equal(await page.isVisible('#figure-pool .question'), true, 'the figure asks before alloc');
  assert.match(await page.textContent('#figure-pool .question'), /which block will alloc\(\) hand out now/);
  // Block 0 was freed last: it is the head.
  await page.click('#figure-pool button.block[data-index="0"]');
  assert.equal(await stepOf(page, 'pool'), 6, 'the real call ran');
  assert.match(await page.textContent('#figure-pool .verdict'), /^Right: alloc\(\) handed out block 0, because block 0 is the head of the free list/);
  // Back to the question, and a wrong guess: a never-used block.
  await page.click('#figure-pool .step-prev');
  assert.equal(await page.textContent('#figure-pool .verdict'), '', 'moving clears the verdict');
  await page.click('#figure-pool button.block[data-index="4"]');
  assert.equal(await stepOf(page, 'pool'), 6);
  assert.match(await page.textContent('#figure-pool .verdict'), /^Not this time: you picked block 4, but alloc\(\) handed out block 0, because block 0 is the head/);
  // The other question: the free list is empty, so the next never-used block.
  await page.click('#figure-pool .step-next');
  await page.click('#figure-pool button.block[data-index="5"]');
  assert.match(await page.textContent('#figure-pool .verdict'), /handed out block 3, because the free list is empty, so alloc takes the next never-used block/);
  // No question where the figure does not ask: the blocks are not buttons to press then.
  assert.equal(await page.isDisabled('#figure-pool button.block[data-index="0"]'), true);
  await page.locator('#figure-pool').screenshot({ path: path.join(screenshots, 'figure-pool-predicted.png'), animations: 'disabled' });
  assert.deepEqual(problems, []);
  await page.close();
});

test('your own calls: a typed program with a double free and an interior free, kept in the URL', async () => {
  const { page, problems } = await open(DESKTOP);
  await page.getByRole('textbox', { name: /calls/ }).fill('a = alloc(24)\nb = alloc(8)\nfree(a)\nfree(a)\nfree(b + 8)\nfree(b)');
  await page.click('#calls-run');
  assert.match(await page.textContent('#calls-message'), /6 calls, ready/);
  assert.equal(new URL(page.url()).searchParams.get('calls'), 'a = alloc(24)\nb = alloc(8)\nfree(a)\nfree(a)\nfree(b + 8)\nfree(b)');
  const captions = [];
  for (let i = 0; i < 6; i++) {
    await page.click('#figure-own-pool .step-next');
    captions.push(await page.textContent('#figure-own-pool .caption'));
  }
  assert.match(captions[3], /double free: block 0 at 0x[0-9a-f]+ is already free/);
  assert.match(captions[4], /misaligned free: 0x[0-9a-f]+ is 8 bytes into block 1/);
  assert.doesNotMatch(captions[5], /refused|Refused/);
  // The heap ran the same program, with its own messages.
  await page.focus('#figure-own-heap .step-range');
  await page.keyboard.press('End');
  assert.equal(await stepOf(page, 'own-heap'), 6);
  // The link reopens the same program.
  const shared = await open(DESKTOP, new URL(page.url()).search);
  assert.equal(await shared.page.inputValue('#calls'), 'a = alloc(24)\nb = alloc(8)\nfree(a)\nfree(a)\nfree(b + 8)\nfree(b)');
  assert.equal(await shared.page.getAttribute('#figure-own-pool .step-range', 'max'), '6');
  await shared.page.close();
  await page.locator('#own-calls').screenshot({ path: path.join(screenshots, 'figure-own-calls.png'), animations: 'disabled' });
  assert.deepEqual(problems, []);
  assert.deepEqual(shared.problems, []);
  await page.close();
});

test('your own calls ask too: which block will the pool hand out, which hole will the heap use?', async () => {
  const { page, problems } = await open(DESKTOP);
  await page.getByRole('textbox', { name: /calls/ }).fill('a = alloc(24)\nb = alloc(8)\nfree(a)\nc = alloc(4)');
  await page.click('#calls-run');
  // Both figures ask before the first alloc after a free: call 4, at step 3.
  for (const id of ['own-pool', 'own-heap']) {
    await page.focus(`#figure-${id} .step-range`);
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    assert.equal(await page.isVisible(`#figure-${id} .question`), true, `${id} asks`);
  }
  assert.match(await page.textContent('#figure-own-pool .question'), /which block will alloc\(\) hand out now/);
  assert.match(await page.textContent('#figure-own-heap .question'), /which block will alloc\(4\) take its bytes from/);
  // The pool: a wrong guess (a never-used block), then the right one (the head, a's block).
  await page.click('#figure-own-pool button.block[data-index="2"]');
  assert.equal(await stepOf(page, 'own-pool'), 4, 'the real call ran');
  assert.match(await page.textContent('#figure-own-pool .verdict'), /^Not this time: you picked block 2, but alloc\(\) handed out block 0, because block 0 is the head of the free list/);
  await page.click('#figure-own-pool .step-prev');
  await page.click('#figure-own-pool button.block[data-index="0"]');
  assert.match(await page.textContent('#figure-own-pool .verdict'), /^Right: alloc\(\) handed out block 0/);
  // The heap: its map before the call is [a's hole, b, the rest]. The rest is large, but first
  // fit takes the first hole that fits: a's.
  assert.equal(await page.$$eval('#figure-own-heap button.heap-block', (blocks) => blocks.map((b) => b.dataset.state).join()), 'free,in use,free');
  await page.click('#figure-own-heap button.heap-block[data-index="2"]');
  assert.equal(await stepOf(page, 'own-heap'), 4);
  assert.match(await page.textContent('#figure-own-heap .verdict'), /^Not this time: you picked block 2, but alloc\(\) handed out block 0, because alloc\(4\) needs 8 bytes with its header, and first fit walks the free blocks from the lowest address and takes the first one that large: block 0 \(28 B\)\.$/);
  await page.click('#figure-own-heap .step-prev');
  await page.click('#figure-own-heap button.heap-block[data-index="0"]');
  assert.match(await page.textContent('#figure-own-heap .verdict'), /^Right: alloc\(\) handed out block 0/);
  await page.locator('#own-calls').screenshot({ path: path.join(screenshots, 'figure-own-calls-predicted.png'), animations: 'disabled' });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a typed program of hundreds of calls plays without freezing, forward and back', async (t) => {
  const { page, problems } = await open(DESKTOP);
  // 300 calls: allocations that fill the pool and the heap, frees, refusals.
  const lines = [];
  for (let i = 0; i < 100; i++) lines.push(`a${i % 10} = alloc(${4 + (i % 7) * 4})`, `free(a${i % 10})`, `free(a${i % 10})`);
  const program = lines.join('\n');
  assert.ok(program.length <= 4000 && lines.length === 300);
  await page.getByRole('textbox', { name: /calls/ }).fill(program);
  await page.click('#calls-run');
  assert.match(await page.textContent('#calls-message'), /^300 calls, ready/);
  /** Moves a figure's slider to `k` as the reader's drag does; returns the milliseconds it took. */
  const move = (id, k) => page.evaluate(([figureId, to]) => {
    const range = document.querySelector(`#figure-${figureId} .step-range`);
    const started = performance.now();
    range.value = String(to);
    range.dispatchEvent(new Event('input', { bubbles: true }));
    return performance.now() - started;
  }, [id, k]);
  for (const id of ['own-pool', 'own-heap']) {
    const times = { end: await move(id, 300) };
    const atEnd = await figureState(page, id);
    times.back = await move(id, 299);
    times.forward = await move(id, 300);
    assert.deepEqual(await figureState(page, id), atEnd, `${id}: step 300 again, the same`);
    // Dragging the slider across the whole program, a step at a time.
    let slowest = 0;
    for (let k = 299; k >= 280; k--) slowest = Math.max(slowest, await move(id, k));
    times.slowestDragStep = slowest;
    t.diagnostic(`${id}: ${JSON.stringify(Object.fromEntries(Object.entries(times).map(([name, ms]) => [name, Math.round(ms)])))} ms`);
    for (const [name, ms] of Object.entries(times)) assert.ok(ms < 500, `${id}: ${name} took ${Math.round(ms)} ms`);
    assert.match(await page.textContent(`#figure-${id} .caption`), /^Step 280 of 300\./);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('hostile programs in the URL are refused with a message, never run as script', async () => {
  const cases = [
    ['<img src=x onerror=alert(1)><script>alert(2)</script>', /The program in this link was not run: line 1: .* is not a call this page knows/],
    ['a = alloc(1e309)', /The program in this link was not run: line 1: alloc\(1e309\): the size must be a whole number/],
    ['free(99999999999999999999)', /The program in this link was not run: line 1: the address 999999999999… is too large/],
    ['alloc(8)\n'.repeat(10000), /The program in this link was not run: the program has 90000 characters; the page plays at most 4000/],
    ['end()\n'.repeat(600), /more than 400 calls/],
    ['free(x)', /x has no value yet/],
  ];
  for (const [program, refusal] of cases) {
    const started = Date.now();
    const { page, problems } = await open(DESKTOP, `?calls=${encodeURIComponent(program)}`);
    page.on('dialog', (dialog) => { problems.push(`dialog: ${dialog.message()}`); dialog.dismiss(); });
    assert.match(await page.textContent('#calls-message'), refusal);
    assert.ok(Date.now() - started < 10000, 'the tab did not freeze');
    assert.equal(await page.$$eval('#own-calls img, #own-calls script', (nodes) => nodes.length), 0, 'nothing was parsed as HTML');
    assert.equal(await page.getAttribute('#figure-own-pool .step-range', 'max'), '0', 'nothing ran');
    assert.ok((await page.inputValue('#calls')).length <= 4000);
    assert.deepEqual(problems, []);
    await page.close();
  }
});

test('the page forbids inline script and eval (Content-Security-Policy)', async () => {
  const { page, problems } = await open(DESKTOP);
  const policy = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
  assert.match(policy, /script-src 'self' 'wasm-unsafe-eval';/);
  assert.doesNotMatch(policy, /unsafe-inline|'unsafe-eval'/);
  // The test's own evaluate is exempt from the page's CSP, so ask the page: an inline script
  // added to it, and a string handed to setTimeout (eval by another name), must not run.
  const outcome = await page.evaluate(() => new Promise((resolve) => {
    const violations = [];
    document.addEventListener('securitypolicyviolation', (event) => violations.push(event.violatedDirective));
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true';
    document.head.append(script);
    setTimeout('window.evalRan = true', 0);
    setTimeout(() => resolve({ inline: window.inlineRan ?? false, eval: window.evalRan ?? false, violations }), 100);
  }));
  assert.deepEqual(outcome, { inline: false, eval: false, violations: ['script-src-elem', 'script-src'] });
  assert.ok(problems.every((p) => /Content Security Policy/.test(p)), problems.join('\n'));
  assert.equal(problems.length, 2, 'exactly the two refusals were reported');
  await page.close();
});

test('keyboard only: the timeline moves with Tab, arrows, Home, End, Enter and Space', async () => {
  const { page, problems } = await open(DESKTOP);
  await page.focus('#figure-pool .step-prev'); // disabled at step 0, so Tab lands after it
  await page.focus('#figure-pool .step-range');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'The pool: step');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await stepOf(page, 'pool'), 2);
  await page.keyboard.press('End');
  assert.equal(await stepOf(page, 'pool'), 8);
  await page.keyboard.press('Home');
  assert.equal(await stepOf(page, 'pool'), 0);
  await page.keyboard.press('Tab');
  assert.match(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), /The pool: next step/);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Space');
  assert.equal(await stepOf(page, 'pool'), 2);
  // Arrow keys work anywhere in the figure, not only on the slider.
  await page.keyboard.press('ArrowLeft');
  assert.equal(await stepOf(page, 'pool'), 1);
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  assert.match(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), /The pool: previous step/);
  await page.keyboard.press('Enter');
  assert.equal(await stepOf(page, 'pool'), 0);
  // The step is announced: the caption is a live region and names the call.
  assert.equal(await page.getAttribute('#figure-pool .caption', 'aria-live'), 'polite');
  await page.keyboard.press('ArrowRight');
  assert.match(await page.textContent('#figure-pool .caption'), /^Step 1 of 8\. No block was ever freed/);
  assert.match(await page.getAttribute('#figure-pool .step-range', 'aria-valuetext'), /^step 1 of 8: a = alloc\(16\) → 0x[0-9a-f]+$/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('motion: written bytes flash, blocks fill and empty, new arrows are drawn in, unless reduced motion is asked for', async () => {
  const { page, problems } = await open(DESKTOP);
  const animation = (selector) => page.$eval(selector, (node) => getComputedStyle(node).animationName);
  for (const [reducedMotion, on] of [['no-preference', true], ['reduce', false]]) {
    await page.emulateMedia({ reducedMotion });
    await page.evaluate(() => { location.hash = '#figure-pool-step-4'; });
    await page.waitForFunction(() => document.querySelector('#figure-pool').dataset.step === '4');
    // free(a): block 0 empties, and the arrow from it to block 1 (the old head) is new.
    await page.click('#figure-pool .step-next');
    assert.equal(await animation('#figure-pool .byte.changed'), on ? 'byte-written' : 'none', `bytes, ${reducedMotion}`);
    assert.equal(await page.$eval('#figure-pool button.block[data-index="0"]', (b) => b.className), 'block free became-free');
    assert.equal(await page.$$eval('#figure-pool button.block.became-free', (blocks) => blocks.length), 1, 'only the block freed is marked');
    assert.equal(await animation('#figure-pool button.block.became-free'), on ? 'block-freed' : 'none');
    assert.equal(await page.$$eval('#figure-pool svg.links path.link', (links) => links.length), 1);
    assert.equal(await animation('#figure-pool svg.links path.link-new'), on ? 'link-draw' : 'none');
    // d = alloc(16): block 0 fills; the arrow is gone (one free block left: nothing to link).
    await page.click('#figure-pool .step-next');
    assert.equal(await page.$eval('#figure-pool button.block[data-index="0"]', (b) => b.className), 'block in-use became-in-use');
    assert.equal(await animation('#figure-pool button.block.became-in-use'), on ? 'block-fill' : 'none');
    const blockTransition = await page.$eval('#figure-pool button.block', (block) => getComputedStyle(block).transitionDuration.split(',')[0].trim());
    assert.equal(blockTransition, on ? '0.35s' : '0s');
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('every figure fits a phone screen, and each is photographed for a look', async () => {
  for (const viewport of [DESKTOP, { width: 390, height: 844 }]) {
    const { page, problems } = await open(viewport);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than ${viewport.width}px`);
    for (const id of STORY_FIGURES) {
      const last = Number(await page.getAttribute(`#figure-${id} .step-range`, 'max'));
      await page.evaluate(([figureId, k]) => { location.hash = `#figure-${figureId}-step-${k}`; }, [id, Math.min(last, id === 'fragmentation' ? 10 : last)]);
      await page.waitForFunction((figureId) => document.querySelector(`#figure-${figureId}`).dataset.step !== '0', id);
      const wide = await page.$eval(`#figure-${id}`, (figure) => figure.scrollWidth - figure.clientWidth);
      assert.ok(wide <= 0, `figure ${id} is ${wide}px wider than its box at ${viewport.width}px`);
      await page.locator(`#figure-${id}`).screenshot({ path: path.join(screenshots, `figure-${id}-${viewport.width}.png`), animations: 'disabled' });
    }
    assert.deepEqual(problems, []);
    await page.close();
  }
});

test('axe-core finds no serious or critical accessibility violation', async () => {
  const axe = require.resolve('axe-core/axe.min.js');
  for (const viewport of [DESKTOP, { width: 390, height: 844 }]) {
    // The page's CSP forbids injected script, as it should; axe is let in by the test alone.
    const { page, problems } = await open(viewport, '#figure-pool-step-5', { bypassCSP: true });
    await page.addScriptTag({ path: axe });
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
    assert.deepEqual(bad, [], `at ${viewport.width}px`);
    assert.deepEqual(problems, []);
    await page.close();
  }
});
