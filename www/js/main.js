// Wiring: loads the WebAssembly module and the story, puts a live figure in each of the
// story's figure slots, creates the playground and the comparison, connects the controls, and keeps the moment (figure, step, typed program) in the URL.

import init, * as wasm from '../pkg/memory_pool.js';
import { Playground, LIMITS } from './playground.js';
import { drawPoolMap, drawFreeListLinks, describeFreeList } from './map.js';
import { drawCounters, drawMessage, drawHex } from './panels.js';
import { Comparison, drawComparison, WORKLOAD } from './compare.js';
import { showReadme } from './explain.js';
import { Figure } from './figure.js';
import { FIGURES, OWN_PROGRAM, ownSentence } from './figures.js';
import { WIDGETS } from './beyond/index.js';
import { PoolSubject, HeapSubject } from './subjects.js';
import { parseProgram, ProgramError } from './program.js';
import { el } from './format.js';
import { Race } from './race.js';

const $ = (selector) => document.querySelector(selector);

async function start() {
  const story = showReadme($('#explanation'));
  await init();
  await story;
  const figures = placeFigures();

  const playground = new Playground(wasm, render);
  const comparison = new Comparison(wasm);
  const compareAsk = firstRefusal(comparison);
  const compareElements = {
    op: $('#compare-op'), pool: $('#compare-pool'), heap: $('#compare-heap'),
    chart: $('#compare-chart'),
  };

  function render() {
    const pool = playground.pool;
    drawMessage($('#message'), playground.message);
    // Redrawing replaces the blocks: keep the keyboard focus on the same block.
    const focused = document.activeElement?.closest?.('#pool-map button.block')?.dataset.index;
    drawPoolMap($('#pool-map'), playground);
    if (focused !== undefined) $(`#pool-map button.block[data-index="${focused}"]`)?.focus();
    $('#free-list-text').textContent = describeFreeList(pool);
    drawCounters($('#counters'), playground);
    drawHex($('#hex'), playground);
    const request = $('#request-size');
    if (pool) request.max = pool.blockSize;
    const select = $('#write-block');
    const states = pool ? pool.blockStates() : [];
    select.replaceChildren(...[...states].map((state, index) => {
      const option = new Option(`block ${index} (${['never used', 'free', 'in use'][state]})`, index);
      option.selected = index === playground.selected;
      return option;
    }));
    for (const id of ['#alloc', '#write', '#misuse-double', '#misuse-outside', '#misuse-middle', '#end-program']) {
      $(id).disabled = !pool || playground.ended;
    }
    drawPlaygroundTimeline(playground);
    keepPlayground(playground);
  }

  // The comparison is drawn only when it changes, not on each of the playground's calls.
  function renderCompare() {
    drawComparison(compareElements, comparison);
    drawCompareTimeline(comparison);
    const asking = comparison.step === compareAsk;
    $('#compare-question').hidden = !asking;
    $('#compare-question-text').textContent = asking
      ? `Have a think: the next call is ${WORKLOAD[compareAsk].name} = alloc(${WORKLOAD[compareAsk].size}). Which allocator will refuse it?`
      : '';
  }

  // Controls.
  $('#create-form').addEventListener('submit', (event) => {
    event.preventDefault();
    try {
      playground.create(Number($('#block-size').value), Number($('#block-count').value));
    } catch (error) {
      playground.say('error', error.message);
    }
  });
  $('#alloc-form').addEventListener('submit', (event) => {
    event.preventDefault();
    playground.alloc(Number($('#request-size').value));
  });
  $('#write-form').addEventListener('submit', (event) => {
    event.preventDefault();
    playground.write(Number($('#write-block').value), $('#write-value').value);
  });
  $('#write-block').addEventListener('change', () => {
    playground.selected = Number($('#write-block').value);
    render();
  });
  $('#misuse-double').addEventListener('click', () => playground.misuseDoubleFree());
  $('#misuse-outside').addEventListener('click', () => playground.misuseOutside());
  $('#misuse-middle').addEventListener('click', () => playground.misuseMiddle());
  $('#end-program').addEventListener('click', () => playground.endProgram());
  $('#pool-map').addEventListener('click', (event) => {
    const block = event.target.closest('button.block');
    if (block) playground.freeBlock(Number(block.dataset.index));
  });
  new ResizeObserver(() => drawFreeListLinks($('#pool-map'))).observe($('#pool-map'));

  // The playground's timeline: every operation since "Create pool" is a step.
  const poolRange = $('#pool-range');
  poolRange.addEventListener('input', () => playground.goTo(Number(poolRange.value)));
  $('#pool-prev').addEventListener('click', () => playground.goTo(playground.step - 1));
  $('#pool-next').addEventListener('click', () => playground.goTo(playground.step + 1));
  $('#playground').addEventListener('keydown', (event) => {
    const target = event.target;
    if (target === poolRange || target instanceof HTMLInputElement || target instanceof HTMLSelectElement ||
      target instanceof HTMLTextAreaElement) return; // the fields and the slider keep their keys
    const to = { ArrowLeft: playground.step - 1, ArrowRight: playground.step + 1, Home: 0, End: playground.steps.length }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    playground.goTo(to);
  });

  // The comparison's timeline: step k is the workload's first k operations replayed on a
  // fresh pool and heap, as for every figure.
  const compareRange = $('#compare-range');
  compareRange.max = String(WORKLOAD.length);
  const compareTo = (k, { keepVerdict = false } = {}) => {
    const step = Math.max(0, Math.min(WORKLOAD.length, k));
    if (!keepVerdict) $('#compare-verdict').textContent = '';
    comparison.reset();
    while (comparison.step < step) comparison.next();
    renderCompare();
  };
  // Predict, then check: before the first request one of them refuses, the reader guesses.
  $('#compare-question').addEventListener('click', (event) => {
    const guess = event.target.closest('button[data-guess]')?.dataset.guess;
    if (!guess || comparison.step !== compareAsk) return;
    const before = { ...comparison.failed };
    compareTo(compareAsk + 1, { keepVerdict: true });
    const refused = comparison.failed.heap > before.heap ? 'heap' : comparison.failed.pool > before.pool ? 'pool' : 'neither';
    const heap = comparison.heap;
    const why = refused === 'heap'
      ? `the heap has ${heap.totalFree} free bytes, but its largest hole serves only ${heap.largestRequest}: ` +
        'its free memory is cut into holes between small objects. Every free block of the pool fits the request.'
      : 'both had room for it.';
    const verdict = $('#compare-verdict');
    verdict.className = `verdict ${guess === refused ? 'right' : 'wrong'}`;
    verdict.textContent = `${guess === refused ? 'Right' : 'Not this time'}: ${refused === 'neither' ? 'neither refused' : `the ${refused} refused it`}, because ${why}`;
  });
  compareRange.addEventListener('input', () => compareTo(Number(compareRange.value)));
  $('#compare-prev').addEventListener('click', () => compareTo(comparison.step - 1));
  $('#compare-next').addEventListener('click', () => compareTo(comparison.step + 1));
  $('#compare').addEventListener('keydown', (event) => {
    if (event.target === compareRange) return; // the slider has these keys itself
    const to = { ArrowLeft: comparison.step - 1, ArrowRight: comparison.step + 1, Home: 0, End: WORKLOAD.length }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    compareTo(to);
  });

  for (const [input, limit] of [['#block-size', LIMITS.blockSize], ['#block-count', LIMITS.blockCount]]) {
    $(input).min = limit.min;
    $(input).max = limit.max;
  }

  openPlayground(playground);
  renderCompare();
  followLink(figures, location.hash, { scroll: true });
  addEventListener('hashchange', () => followLink(figures, location.hash, { scroll: true }));
  $('#loading').remove();
  document.body.dataset.ready = 'true';
}

/** The step before the workload's first refused request, found by running it once. */
function firstRefusal(comparison) {
  let step = WORKLOAD.length;
  while (!comparison.done) {
    const failed = comparison.failed.heap + comparison.failed.pool;
    comparison.next();
    if (comparison.failed.heap + comparison.failed.pool > failed) {
      step = comparison.step - 1;
      break;
    }
  }
  comparison.reset();
  return step;
}

/**
 * A timeline's slider, buttons, count and previous · current · next call (`prefix`: the ids'
 * start, `#compare` or `#pool`); `op(i)` is call i as text, `start` the label before call 1.
 */
function drawTimeline(prefix, k, last, op, { start = 'the start: nothing has run yet', end = 'the end', refused = false } = {}) {
  const range = $(`${prefix}-range`);
  range.max = String(last);
  range.value = String(k);
  range.setAttribute('aria-valuetext', `step ${k} of ${last}${k ? `: ${op(k - 1)}` : ''}`);
  const focused = document.activeElement;
  $(`${prefix}-prev`).disabled = k === 0;
  $(`${prefix}-next`).disabled = k === last;
  // A button that is disabled while it has the focus would drop it: hand it to the slider.
  if (focused?.disabled && focused.closest('.timeline') === range.parentElement) range.focus();
  $(`${prefix}-count`).textContent = `step ${k} of ${last}`;
  $(`${prefix}-calls`).replaceChildren(
    el('span', { class: 'call-prev' }, k >= 2 ? `${op(k - 2)} ←` : k === 1 ? `${start} ←` : ''),
    el('strong', { class: `call-now${refused ? ' refused' : ''}` }, k ? op(k - 1) : start),
    el('span', { class: 'call-next' }, `→ next: ${k < last ? op(k) : end}`));
}

/** The comparison's timeline. */
function drawCompareTimeline(comparison) {
  const op = (i) => (WORKLOAD[i].op === 'alloc' ? `${WORKLOAD[i].name} = alloc(${WORKLOAD[i].size})` : `free(${WORKLOAD[i].name})`);
  drawTimeline('#compare', comparison.step, WORKLOAD.length, op);
}

/** The playground's timeline: the operations since "Create pool", and where it stands. */
function drawPlaygroundTimeline(playground) {
  const { step, steps } = playground;
  drawTimeline('#pool', step, steps.length, (i) => steps[i].text, {
    start: playground.creation,
    end: 'your next call (a button above, or a click on a block)',
    refused: step > 0 && steps[step - 1].text.endsWith('refused'),
  });
  const pool = playground.pool;
  const map = $('#pool-map');
  if (pool) {
    map.dataset.regionBase = String(pool.regionBase);
    map.dataset.regionLength = String(pool.addressOf(pool.blockCount - 1) + pool.blockSize - pool.regionBase);
    map.dataset.step = String(step);
  }
}

/** The pool the playground opens on when its link carries none. */
const FIRST_POOL = { blockSize: 32, blockCount: 8 };

/**
 * Keeps the playground's timeline in the page's address (`?pool=16x10&pool-ops=a16.a12.f0&
 * pool-step=2`), so that a link opens the same moment; the pool it opens on needs none.
 */
function keepPlayground(playground) {
  const link = playground.toLink();
  const first = !link || (link.pool === `${FIRST_POOL.blockSize}x${FIRST_POOL.blockCount}` && link.ops === '');
  const query = new URLSearchParams(location.search);
  for (const [key, value] of [['pool', link?.pool], ['pool-ops', link?.ops], ['pool-step', link?.step]]) {
    if (first) query.delete(key);
    else query.set(key, value);
  }
  const search = query.size ? `?${query}` : '';
  if (search !== location.search) history.replaceState(null, '', `${location.pathname}${search}${location.hash}`);
}

/**
 * Opens the playground on the timeline the link carries (replayed), or else on its first pool.
 * Links from before the page lost its scenarios (`?scenario=…&step=…`) open it as any link.
 */
function openPlayground(playground) {
  const query = new URLSearchParams(location.search);
  let refusal = null;
  if (query.has('pool')) {
    try {
      playground.openLink({ pool: query.get('pool'), ops: query.get('pool-ops') ?? '', step: query.get('pool-step') ?? '0' });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      refusal = error.message;
    }
  }
  if (!query.has('pool') || refusal) playground.create(FIRST_POOL.blockSize, FIRST_POOL.blockCount);
  $('#block-size').value = String(playground.program.blockSize);
  $('#block-count').value = String(playground.program.blockCount);
  if (refusal) playground.say('error', `The playground's steps in this link were not replayed: ${refusal}`);
}

/** The URL hash that names a figure's step: `#figure-pool-step-4`. */
const STEP_LINK = /^#figure-([a-z-]+)-step-(\d{1,4})$/;

/** Remembers a figure's moment in the URL (the typed program stays in the query). */
function keepMoment(figure) {
  history.replaceState(null, '', `${location.pathname}${location.search}#figure-${figure.id}-step-${figure.step}`);
}

/** Moves the figure a `#figure-NAME-step-K` link names to its step. */
function followLink(figures, hash, { scroll }) {
  const match = STEP_LINK.exec(hash);
  const figure = match && figures.get(match[1]);
  if (!figure) return false;
  figure.goTo(Number(match[2]));
  if (scroll) {
    const smooth = !matchMedia('(prefers-reduced-motion: reduce)').matches;
    figure.element.scrollIntoView({ behavior: smooth ? 'smooth' : 'auto', block: 'center' });
  }
  return true;
}

/** Fills each slot of the story with its live figure; returns them by id. */
function placeFigures() {
  const figures = new Map();
  for (const slot of document.querySelectorAll('#explanation .figure-slot')) {
    const name = slot.dataset.figure;
    if (name === 'compare') slot.replaceWith($('#compare'));
    else if (name === 'playground') slot.replaceWith($('#own-calls'));
    else if (name === 'race') slot.replaceWith(new Race().element);
    else if (WIDGETS[name]) slot.replaceWith(WIDGETS[name](wasm));
    else if (FIGURES[name]) {
      const figure = new Figure(wasm, { id: name, ...FIGURES[name](wasm), onStep: keepMoment });
      slot.replaceWith(figure.element);
      figure.goTo(0);
      figures.set(name, figure);
    }
  }
  placeOwnCalls(figures);
  // Links in the prose move a figure to a step, and keep it in the URL.
  $('#explanation').addEventListener('click', (event) => {
    const link = event.target.closest('a[href^="#figure-"]');
    if (!link || !followLink(figures, link.getAttribute('href'), { scroll: true })) return;
    event.preventDefault();
    keepMoment(figures.get(STEP_LINK.exec(link.getAttribute('href'))[1]));
  });
  return figures;
}

/**
 * Where a figure of the reader's own calls asks "which block?": before the first alloc that
 * comes after a free (where the answer takes some thought: a freed block comes back), or
 * else before the first alloc. Only an alloc the subject can take (a heap needs a size, a
 * pool at most its block size).
 */
function askBefore(calls, subject) {
  const fits = (call) => call.op === 'alloc' &&
    (subject.kind === 'pool' ? (call.size ?? 0) <= subject.blockSize : call.size !== undefined);
  const firstFree = calls.findIndex((call) => call.op === 'free');
  const afterFree = firstFree === -1 ? -1 : calls.findIndex((call, i) => i > firstFree && fits(call));
  const first = calls.findIndex(fits);
  const index = afterFree !== -1 ? afterFree : first;
  return index === -1 ? [] : [index];
}

/** The reader's own program, on a pool and on a heap, from the text box or the URL. */
function placeOwnCalls(figures) {
  const own = [
    new Figure(wasm, { id: 'own-pool', title: 'Your calls on a pool', subject: new PoolSubject(wasm, 32, 8),
      calls: [], sentences: ownSentence('pool'), intro: 'A pool of 8 blocks of 32 bytes, before your first call.', onStep: keepMoment }),
    new Figure(wasm, { id: 'own-heap', title: 'Your calls on a heap', subject: new HeapSubject(wasm, 256),
      calls: [], sentences: ownSentence('heap'), intro: 'A heap of 256 bytes, before your first call.', onStep: keepMoment }),
  ];
  $('#own-figures').replaceChildren(...own.map((figure) => figure.element));
  for (const figure of own) figures.set(figure.id, figure);
  const box = $('#calls');
  const say = (kind, text) => {
    const message = $('#calls-message');
    message.className = `message ${kind}`;
    message.textContent = text;
  };
  const load = (text, { fromUrl }) => {
    let calls;
    try {
      calls = parseProgram(text);
    } catch (error) {
      if (!(error instanceof ProgramError)) throw error;
      say('error', `${fromUrl ? 'The program in this link was not run' : 'Not run'}: ${error.message}`);
      return false;
    }
    for (const figure of own) figure.setCalls(calls, figure.spec.sentences, askBefore(calls, figure.subject));
    say('ok', `${calls.length} calls, ready: step through them with ▶ or the slider.`);
    return true;
  };
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('calls');
  // Shown as the text box's value (never parsed as HTML), cut to what the parser accepts.
  box.value = (fromUrl ?? OWN_PROGRAM).slice(0, 4000);
  if (!load(fromUrl ?? OWN_PROGRAM, { fromUrl: fromUrl !== null })) for (const figure of own) figure.setCalls([], figure.spec.sentences);
  $('#calls-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (!load(box.value, { fromUrl: false })) return;
    const query = new URLSearchParams(location.search);
    query.set('calls', box.value);
    history.replaceState(null, '', `${location.pathname}?${query}#your-own-calls`);
  });
}

start().catch((error) => {
  const loading = $('#loading');
  loading.className = 'message error';
  loading.textContent = `The playground could not start: ${error.message}`;
  throw error;
});
