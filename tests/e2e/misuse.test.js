// The misuse matrix for the playground page's controls (issue 8): one row per bad input, given
// through the page's own controls in real headless Chromium. Every row checks three things:
//
//   1. the learner is told, in words: either the page's message area (asserted by its text) or,
//      where the control itself refuses the input (an <input type=number> with min, max, step
//      and required), the browser's validation message on that field (asserted by its text,
//      and the page's own message left as it was: its handler never ran);
//   2. no console error, page error or failed request;
//   3. the pool is unchanged: the memory map as drawn (every block's state, address, requested
//      bytes and free-list link read from memory, the head, the state bytes, the free-list
//      sentence, the arrows) and every counter are identical before and after, except the count
//      of refused frees, which must rise by exactly what the row says.
//
//   make test-e2e          (builds www/ first)
//   CHROMIUM=/path/to/chromium node --test misuse.test.js

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSession, message } from './harness.js';

// One page for every row (loading the whole story for each of ~50 rows took most of the
// suite's three minutes): each row's setup starts with "Create pool", through the page's own
// form, which replaces the pool and starts its timeline again, or, when the row before had
// the same setup, goes back on the playground's timeline to where that setup ended (see
// setUp). Problems (console errors, failed requests) are checked per row: those recorded
// since the row began.
let session;
let shared;
before(async () => {
  session = await startSession();
  shared = await session.open({ width: 1280, height: 800 });
  await watchValidation(shared.page);
});
after(async () => { await session?.close(); });

/** The shared page, and the problems recorded from now on. */
function openRow() {
  const since = shared.problems.length;
  return { page: shared.page, problems: () => shared.problems.slice(since) };
}

/** The setup the playground's timeline holds (`key`), and the step where it ended. */
let ready = null;

/**
 * Brings the pool to a row's setup, through the page's controls. When the row before had the
 * same setup, the playground's own timeline goes back to the step where that setup ended
 * (playground.test.js proves that a step reached on the timeline is exactly the state it had),
 * which drops whatever the row before did; otherwise every step is made anew.
 */
async function setUp(page, setup) {
  const key = JSON.stringify(setup);
  const [, size, count] = setup[0];
  if (ready?.key === key) {
    // The fields a row may have left invalid, as the setup's "Create pool" left them.
    await page.fill('#block-size', String(size));
    await page.fill('#block-count', String(count));
    await page.locator('#pool-range').fill(String(ready.step));
    assert.equal(await page.inputValue('#pool-range'), String(ready.step));
    return;
  }
  for (const [step, ...args] of setup) await STEPS[step](page, ...args);
  ready = { key, step: Number(await page.inputValue('#pool-range')) };
  assert.equal(ready.step, setup.length - 1, 'each setup step after "Create pool" is a step of the timeline');
}

// ---- Driving the page as a learner does ------------------------------------------------------

/** Setup steps, each through the page's controls, each checked to have worked. */
const STEPS = {
  async create(page, size, count) {
    await page.fill('#block-size', String(size));
    await page.fill('#block-count', String(count));
    await page.click('#create');
    assert.match(await message(page), /^Done: new Pool\(/);
  },
  async alloc(page, bytes) {
    await page.fill('#request-size', String(bytes));
    await page.click('#alloc');
    assert.match(await message(page), /^Done: alloc\(\) → /);
  },
  async free(page, index) {
    await page.click(`#pool-map button.block[data-index="${index}"]`);
    assert.match(await message(page), /^Done: free\(/);
  },
  async end(page) {
    await page.click('#end-program');
    assert.match(await message(page), /^(Note|Done): The program ended/);
  },
};

// The pools the rows start from.
/** 4 blocks of 32 B: [in use 24/32, free (head, next: end), in use 32/32, never used]. */
const MIXED = [['create', 32, 4], ['alloc', 24], ['alloc', 16], ['alloc', 32], ['free', 1]];
/** 3 blocks of 16 B, all in use. */
const FULL = [['create', 16, 3], ['alloc', 16], ['alloc', 8], ['alloc', 12]];
/** 4 blocks of 32 B, nothing allocated yet: all never used, the free list empty. */
const FRESH = [['create', 32, 4]];
/** 4 blocks of 32 B: [in use, in use, never used, never used], the free list empty. */
const NO_FREE = [['create', 32, 4], ['alloc', 24], ['alloc', 24]];
/** 6 blocks of 32 B after some churn: [free, in use (reused), free, free, never used, never
 *  used], the free list #3 → #0 → #2. */
const CHURNED = [['create', 32, 6], ['alloc', 8], ['alloc', 16], ['alloc', 24], ['alloc', 32],
  ['free', 2], ['free', 0], ['free', 3], ['alloc', 20], ['free', 1], ['alloc', 4], ['free', 3]];

/** Everything the page draws of the pool, as text, without what only the view selects. */
const mapOf = (page) => page.evaluate(() => {
  const text = (node, selector) => node.querySelector(selector)?.textContent ?? null;
  return {
    blocks: [...document.querySelectorAll('#pool-map button.block')].map((b) => ({
      index: b.dataset.index,
      state: b.dataset.state,
      shown: text(b, '.b-state'),
      address: text(b, '.b-addr'),
      requested: text(b, '.b-bytes'),
      link: text(b, '.b-link'),
      head: b.querySelector('.b-head') !== null,
      disabled: b.disabled,
      label: b.getAttribute('title'),
      name: b.textContent,
    })),
    metadata: text(document, '#pool-map .meta-title'),
    stateBytes: [...document.querySelectorAll('#pool-map .state-byte')].map((b) => b.textContent),
    arrows: document.querySelectorAll('#pool-map svg.links path.link').length,
    freeList: text(document, '#free-list-text'),
    counters: Object.fromEntries([...document.querySelectorAll('#counters dd')]
      .map((dd) => [dd.dataset.counter, dd.textContent])),
  };
});

/** The counter of refused frees, by kind. */
function refusals(map) {
  const found = /^(\d+) \((\d+) double, (\d+) misaligned, (\d+) not in pool\)$/.exec(map.counters.rejected);
  assert.ok(found, `the refused-frees counter reads "${map.counters.rejected}"`);
  const [total, double, misaligned, notInPool] = found.slice(1).map(Number);
  return { total, double, misaligned, notInPool };
}

/** The map without the refused-frees counter, which a refused free is allowed to raise. */
function withoutRefusals(map) {
  const { rejected, ...counters } = map.counters;
  return { ...map, counters };
}

/** A block's bytes as the hex view shows them, read from linear memory (selects the block). */
async function bytesOf(page, index) {
  await page.selectOption('#write-block', String(index));
  return page.textContent('#hex .hex-rows');
}

/** Records the fields the browser reports invalid when a form is submitted (installed once). */
async function watchValidation(page) {
  await page.evaluate(() => {
    window.invalidFields = [];
    document.addEventListener('invalid', (event) =>
      window.invalidFields.push([`#${event.target.id}`, event.target.validationMessage]), true);
  });
}
const invalidFields = (page) => page.evaluate(() => window.invalidFields.splice(0));

// ---- The rows -------------------------------------------------------------------------------
//
// name:      the bad input, as the learner would describe it
// setup:     the pool it starts from (steps through the controls)
// act:       the bad input, through the controls
// browser:   [field, message]: the control refuses it with the browser's validation message
// message:   otherwise, what the page's message area must say, and `kind` its colour
// refused:   how many refused frees of each kind the row adds ({} = none)
// keepBytes: blocks whose bytes must be the same afterwards (read through the hex view)
// check:     further assertions after the common ones

const fill = (field, value) => async (page) => {
  await page.fill(field, value);
  assert.equal(await page.inputValue(field), value, `the field takes "${value}" as typed`);
};
/** Types like a learner, key by key: a number field drops what cannot be part of a number. */
const type = (field, keys, shows) => async (page) => {
  await page.fill(field, '');
  await page.locator(field).pressSequentially(keys);
  assert.equal(await page.inputValue(field), shows, `typing "${keys}" leaves "${shows}"`);
};
const createWith = (field, value, how = fill) => async (page) => {
  await how(field, value)(page);
  await page.click('#create');
};
const typeAndCreate = (field, keys, shows) => async (page) => {
  await type(field, keys, shows)(page);
  await page.click('#create');
};
const allocWith = (value) => async (page) => {
  await fill('#request-size', value)(page);
  await page.click('#alloc');
};
const writeInto = (index, value) => async (page) => {
  await page.selectOption('#write-block', String(index));
  await page.fill('#write-value', value);
  await page.click('#write');
};
const click = (selector) => (page) => page.click(selector);

const AT_LEAST = (n) => `Value must be greater than or equal to ${n}.`;
const AT_MOST = (n) => `Value must be less than or equal to ${n}.`;
const BETWEEN = (a, b) => `Please enter a valid value. The two nearest valid values are ${a} and ${b}.`;
const EMPTY = 'Please fill out this field.';
const NOT_A_NUMBER = 'Please enter a number.';

const ADDR = '0x[0-9a-f]+';
const re = (source) => new RegExp(source.replaceAll('ADDR', ADDR));

const ROWS = [
  // -- Create pool: the old pool is kept (MIXED has allocations a new pool would not have).
  { name: 'create: block size 0', setup: MIXED, act: createWith('#block-size', '0'),
    browser: ['#block-size', AT_LEAST(4)] },
  { name: 'create: block count 0', setup: MIXED, act: createWith('#block-count', '0'),
    browser: ['#block-count', AT_LEAST(1)] },
  { name: 'create: negative block size', setup: MIXED, act: createWith('#block-size', '-32'),
    browser: ['#block-size', AT_LEAST(4)] },
  { name: 'create: negative block count', setup: MIXED, act: createWith('#block-count', '-1'),
    browser: ['#block-count', AT_LEAST(1)] },
  { name: 'create: fractional block size', setup: MIXED, act: createWith('#block-size', '4.5'),
    browser: ['#block-size', BETWEEN(4, 5)] },
  { name: 'create: fractional block count', setup: MIXED, act: createWith('#block-count', '2.5'),
    browser: ['#block-count', BETWEEN(2, 3)] },
  { name: 'create: empty block size', setup: MIXED, act: createWith('#block-size', ''),
    browser: ['#block-size', EMPTY] },
  { name: 'create: empty block count', setup: MIXED, act: createWith('#block-count', ''),
    browser: ['#block-count', EMPTY] },
  { name: 'create: letters typed as block size (the field drops them)', setup: MIXED,
    act: typeAndCreate('#block-size', 'abc', ''), browser: ['#block-size', EMPTY] },
  { name: 'create: "NaN" typed as block count (the field drops it)', setup: MIXED,
    act: typeAndCreate('#block-count', 'NaN', ''), browser: ['#block-count', EMPTY] },
  { name: 'create: "1e" typed as block size (not a number)', setup: MIXED,
    act: typeAndCreate('#block-size', '1e', ''), browser: ['#block-size', NOT_A_NUMBER] },
  { name: 'create: "--1" typed as block count (not a number)', setup: MIXED,
    act: typeAndCreate('#block-count', '--1', ''), browser: ['#block-count', NOT_A_NUMBER] },
  { name: 'create: block size 1e309 (overflows a double)', setup: MIXED,
    act: async (page) => { await page.fill('#block-size', '1e309'); await page.click('#create'); },
    browser: ['#block-size', NOT_A_NUMBER] },
  { name: 'create: block size above the limit (257)', setup: MIXED,
    act: createWith('#block-size', '257'), browser: ['#block-size', AT_MOST(256)] },
  { name: 'create: block count above the limit (65)', setup: MIXED,
    act: createWith('#block-count', '65'), browser: ['#block-count', AT_MOST(64)] },
  { name: 'create: huge block size (1e10)', setup: MIXED,
    act: createWith('#block-size', '1e10'), browser: ['#block-size', AT_MOST(256)] },
  { name: 'create: block count beyond 2^64 (99999999999999999999)', setup: MIXED,
    act: createWith('#block-count', '99999999999999999999'), browser: ['#block-count', AT_MOST(64)] },

  // -- Allocate.
  { name: 'allocate when the pool is full', setup: FULL, act: allocWith('8'), kind: 'warn',
    message: re('^Note: alloc\\(\\) returned nothing: all 3 blocks are in use\\. ' +
      'A pool never grows on its own; free a block first\\.$') },
  { name: 'allocate again when the pool is full', setup: [...FULL, ['alloc-refused']],
    act: allocWith('16'), kind: 'warn', message: /^Note: alloc\(\) returned nothing: all 3 blocks are in use\./ },
  { name: 'allocate 0 bytes', setup: MIXED, act: allocWith('0'), browser: ['#request-size', AT_LEAST(1)] },
  { name: 'allocate a negative size', setup: MIXED, act: allocWith('-8'), browser: ['#request-size', AT_LEAST(1)] },
  { name: 'allocate more than the block size', setup: MIXED, act: allocWith('33'),
    browser: ['#request-size', AT_MOST(32)] },
  { name: 'allocate more than a rounded-up block size (5 → 8)',
    setup: [['create', 5, 4], ['alloc', 8]], act: allocWith('9'), browser: ['#request-size', AT_MOST(8)] },
  { name: 'allocate a fractional size', setup: MIXED, act: allocWith('2.5'),
    browser: ['#request-size', BETWEEN(2, 3)] },
  { name: 'allocate with an empty size', setup: MIXED, act: allocWith(''), browser: ['#request-size', EMPTY] },
  { name: 'allocate "e" bytes (not a number)', setup: MIXED,
    act: async (page) => { await type('#request-size', 'e', '')(page); await page.click('#alloc'); },
    browser: ['#request-size', NOT_A_NUMBER] },
  { name: 'allocate a huge size (1e10) on a full pool', setup: FULL, act: allocWith('1e10'),
    browser: ['#request-size', AT_MOST(16)] },

  // -- Free: the three misuse buttons and clicks on blocks that are not in use.
  { name: '"Free twice" with a free list: the head again', setup: MIXED, act: click('#misuse-double'),
    kind: 'error', refused: { double: 1 }, keepBytes: [1],
    message: re('^Refused: double free: block 1 at ADDR is already free' +
      'The map is unchanged: all 4 state bytes and the free list are the same as before the call\\. ' +
      'Only the count of refused frees went up\\.$') },
  { name: '"Free twice" on a fresh pool: a never-used block', setup: FRESH, act: click('#misuse-double'),
    kind: 'error', refused: { double: 1 },
    message: re('^Refused: invalid free: block 0 at ADDR was never allocatedThe map is unchanged') },
  { name: '"Free twice" after churn (free list #3 → #0 → #2)', setup: CHURNED, act: click('#misuse-double'),
    kind: 'error', refused: { double: 1 }, keepBytes: [3],
    message: re('^Refused: double free: block 3 at ADDR is already freeThe map is unchanged') },
  { name: '"Free outside the pool"', setup: MIXED, act: click('#misuse-outside'), kind: 'error',
    refused: { notInPool: 1 },
    message: re('^Refused: ADDR is not a block of this pool: it points outside the pool\'s blocks' +
      'The map is unchanged') },
  { name: '"Free outside the pool" on a full pool', setup: FULL, act: click('#misuse-outside'),
    kind: 'error', refused: { notInPool: 1 }, message: re('^Refused: ADDR is not a block of this pool') },
  { name: '"Free inside a block" (8 bytes into block 0, in use)', setup: MIXED,
    act: click('#misuse-middle'), kind: 'error', refused: { misaligned: 1 }, keepBytes: [0],
    message: re('^Refused: misaligned free: ADDR is 8 bytes into block 0 \\(which starts at ADDR\\); ' +
      'only the start of a block can be freedThe map is unchanged') },
  { name: '"Free inside a block" on a fresh pool', setup: FRESH, act: click('#misuse-middle'),
    kind: 'error', refused: { misaligned: 1 },
    message: re('^Refused: misaligned free: ADDR is 8 bytes into block 0 ') },
  { name: '"Free inside a block" after churn (first block in use: #1)', setup: CHURNED,
    act: click('#misuse-middle'), kind: 'error', refused: { misaligned: 1 },
    message: re('^Refused: misaligned free: ADDR is 8 bytes into block 1 ') },
  { name: 'all three misuse buttons in a row, after churn', setup: CHURNED,
    act: async (page) => {
      for (const id of ['#misuse-double', '#misuse-middle', '#misuse-outside', '#misuse-double']) {
        await page.click(id);
        assert.match(await message(page), /^Refused: .*The map is unchanged/);
      }
    },
    kind: 'error', refused: { double: 2, misaligned: 1, notInPool: 1 }, keepBytes: [0, 1, 3],
    message: re('^Refused: double free: block 3 at ADDR is already free') },
  { name: 'click a free block in the map (a double free)', setup: MIXED,
    act: click('#pool-map button.block[data-index="1"]'), kind: 'error', refused: { double: 1 },
    keepBytes: [1], message: re('^Refused: double free: block 1 at ADDR is already freeThe map is unchanged') },
  { name: 'click a never-used block in the map', setup: MIXED,
    act: click('#pool-map button.block[data-index="3"]'), kind: 'error', refused: { double: 1 },
    message: re('^Refused: invalid free: block 3 at ADDR was never allocatedThe map is unchanged') },
  { name: 'press Enter on a free block after churn', setup: CHURNED,
    act: async (page) => {
      await page.focus('#pool-map button.block[data-index="0"]');
      await page.keyboard.press('Enter');
    },
    kind: 'error', refused: { double: 1 }, keepBytes: [0],
    message: re('^Refused: double free: block 0 at ADDR is already free') },

  // -- Write.
  { name: 'write into a free block', setup: MIXED, act: writeInto(1, 'hello'), kind: 'error', keepBytes: [1],
    message: re('^Refused: Block 1 is not in use\\. Writing to it would be a use after free ' +
      '\\(or a write to memory nobody owns\\), so the page does not do it: allocate first\\.$') },
  { name: 'write into a never-used block', setup: MIXED, act: writeInto(3, 'hello'), kind: 'error', keepBytes: [3],
    message: /^Refused: Block 3 is not in use\./ },
  { name: 'write into a block freed after churn', setup: CHURNED, act: writeInto(2, 'stale'), kind: 'error',
    keepBytes: [2], message: /^Refused: Block 2 is not in use\./ },
  { name: 'write an empty value (writes nothing)', setup: MIXED, act: writeInto(0, ''), kind: 'ok',
    keepBytes: [0, 1], message: re('^Done: Wrote 0 bytes into block 0 at ADDR\\.') },
  { name: 'write an over-long value (300 characters) before a free block', setup: MIXED,
    act: async (page) => {
      await page.selectOption('#write-block', '0');
      await page.fill('#write-value', 'x'.repeat(300));
      // The field's maxlength keeps 256 characters; the page cuts them to the block.
      assert.equal((await page.inputValue('#write-value')).length, 256);
      await page.click('#write');
    },
    kind: 'ok', keepBytes: [1, 2],
    message: re('^Done: Wrote 32 bytes into block 0 \\(cut to the block\'s 32 bytes\\) at ADDR\\.'),
    check: async (page) => {
      const rows = (await bytesOf(page, 0)).split('\n');
      assert.equal(rows.length, 4);
      for (const row of rows) assert.match(row, /(78 ){7}78  x{8}$/);
    } },
  { name: 'write an over-long multi-byte value (é × 20 = 40 bytes)', setup: MIXED,
    act: writeInto(2, 'é'.repeat(20)), kind: 'ok', keepBytes: [1, 3],
    message: re('^Done: Wrote 32 bytes into block 2 \\(cut to the block\'s 32 bytes\\)') },

  // -- End the program, then try everything: the controls are disabled and nothing happens.
  { name: 'operations after "End the program"', setup: [...MIXED, ['end']], kind: 'warn',
    message: re('^Note: The program ended with 2 blocks still in use \\(#0, #2\\): 64 bytes leaked\\.' +
      '.*Create a new pool to start again\\.$'),
    act: async (page) => {
      for (const id of ['#alloc', '#write', '#misuse-double', '#misuse-outside', '#misuse-middle', '#end-program']) {
        assert.ok(await page.isDisabled(id), `${id} is disabled once the program has ended`);
        await page.click(id, { force: true });
      }
      for (const index of [0, 1, 3]) {
        assert.ok(await page.isDisabled(`#pool-map button.block[data-index="${index}"]`));
        await page.click(`#pool-map button.block[data-index="${index}"]`, { force: true });
      }
      // Enter in a field would submit its form, but not with the form's button disabled.
      await page.press('#request-size', 'Enter');
      await page.press('#write-value', 'Enter');
    },
    check: async (page) => {
      assert.equal(await page.textContent('#counters dd[data-counter="leaks"]'), '2 blocks, 64 B');
    } },
  { name: 'create with block size 0 after "End the program"', setup: [...MIXED, ['end']],
    act: createWith('#block-size', '0'), browser: ['#block-size', AT_LEAST(4)] },
];

/** Extra setup step for a row: an allocation on a full pool, already refused once. */
STEPS['alloc-refused'] = async (page) => {
  await page.click('#alloc');
  assert.match(await message(page), /^Note: alloc\(\) returned nothing/);
};

for (const row of ROWS) {
  test(`misuse: ${row.name}`, async () => {
    const { page, problems } = openRow();
    await setUp(page, row.setup);
    assert.deepEqual(problems(), [], 'the setup ran without errors');

    const keep = row.keepBytes ?? [];
    const bytesBefore = [];
    for (const index of keep) bytesBefore.push(await bytesOf(page, index));
    const mapBefore = await mapOf(page);
    const messageBefore = await message(page);
    await invalidFields(page); // from the setup: none counts

    await row.act(page);

    const invalid = await invalidFields(page);
    const mapAfter = await mapOf(page);
    if (row.browser) {
      assert.deepEqual(invalid, [row.browser], 'the field refuses the input with this message');
      assert.equal(await message(page), messageBefore, 'the page\'s own handler did not run');
    } else {
      assert.deepEqual(invalid, [], 'no field was invalid');
      assert.match(await message(page), row.message);
      assert.equal(await page.getAttribute('#message', 'class'), `message ${row.kind}`);
    }

    // The pool is unchanged; only the refused frees count up, by exactly the row's refusals.
    assert.deepEqual(withoutRefusals(mapAfter), withoutRefusals(mapBefore));
    const [was, is] = [refusals(mapBefore), refusals(mapAfter)];
    const refused = { double: 0, misaligned: 0, notInPool: 0, ...row.refused };
    const counted = {
      double: is.double - was.double,
      misaligned: is.misaligned - was.misaligned,
      notInPool: is.notInPool - was.notInPool,
    };
    assert.deepEqual(counted, refused, 'the refused frees counted, by kind');
    assert.equal(is.total - was.total, refused.double + refused.misaligned + refused.notInPool);

    for (const [i, index] of keep.entries()) {
      assert.equal(await bytesOf(page, index), bytesBefore[i], `block ${index}'s bytes are unchanged`);
    }
    await row.check?.(page);
    assert.deepEqual(problems(), [], 'no console error, page error or failed request');
  });
}

// The one misuse button that changes the map on purpose: with nothing free, "Free twice" must
// first free a block in use (a real, accepted free) before it can free it again. The page has to
// say so; "the map is unchanged" alone would be false for the click as a whole.
test('misuse: "Free twice" with nothing free frees a block first, and says so', async () => {
  const { page, problems } = openRow();
  await setUp(page, NO_FREE);
  const mapBefore = await mapOf(page);
  await page.click('#misuse-double');
  const mapAfter = await mapOf(page);

  assert.match(await message(page), re('^Refused: double free: block 0 at ADDR is already free' +
    'Block 0 was in use, so the button freed it first \\(accepted\\) and then freed it again ' +
    '\\(refused\\)\\. The second free changed nothing: all 4 state bytes and the free list are ' +
    'the same as after the first\\. Only the count of refused frees went up\\.$'));
  // Exactly one accepted free of block 0 and one refused double free; nothing else moved.
  assert.deepEqual(mapAfter.blocks.map((b) => b.state), ['free', 'in use', 'never used', 'never used']);
  assert.deepEqual(mapAfter.blocks.slice(1), mapBefore.blocks.slice(1));
  assert.equal(mapAfter.blocks[0].link, 'next: end');
  assert.ok(mapAfter.blocks[0].head);
  assert.deepEqual(mapAfter.stateBytes, ['01', '02', '00', '00']);
  assert.match(mapAfter.freeList, /head → #0 → end/);
  assert.deepEqual(mapAfter.counters, {
    ...mapBefore.counters, 'in-use': '1', free: '1', frees: '1', wasted: '8 B',
    rejected: '1 (1 double, 0 misaligned, 0 not in pool)',
  });
  assert.deepEqual(problems(), []);
});

// After the program ends, the one thing to do is to start again: a new pool, running.
test('misuse: after "End the program", "Create pool" starts a new program', async () => {
  const { page, problems } = openRow();
  await setUp(page, [...MIXED, ['end']]);
  await STEPS.create(page, 16, 2);
  ready = null; // a new program: the timeline no longer holds that setup
  assert.equal(await page.textContent('#counters dd[data-counter="leaks"]'), 'the program is still running');
  for (const id of ['#alloc', '#write', '#misuse-double', '#misuse-outside', '#misuse-middle', '#end-program']) {
    assert.ok(await page.isEnabled(id), `${id} works again`);
  }
  await STEPS.alloc(page, 16);
  assert.deepEqual(problems(), []);
});
