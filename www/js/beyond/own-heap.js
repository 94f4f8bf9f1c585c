// "This page's own heap": the module this page runs on allocates with SizeClasses (its
// #[global_allocator], counted: src/wasm/own_heap.rs). Every array and string the boundary
// hands to JavaScript, every object it boxes, is a block of one of its classes. This figure
// draws the classes as they are now and names the calls into the module that allocated: the
// methods of Pool, Heap and TraceReplay are wrapped so that each call notes which of the
// heap's numbered allocations and frees happened during it. Reading the heap (ownHeap,
// ownHeapLog) allocates nothing in the module, so looking does not change it.
//
// Its timeline: every call that allocated is a step, kept with the heap as that call left it
// (a copy of the classes' numbers, and the heap calls it made, read at that moment), so going
// back shows exactly what the heap was then. At the last step the figure follows the page's
// new calls; moved back, it stays where the reader put it.

import { el, plural } from '../format.js';
import { timeline } from './timeline.js';

const FIELDS = 7; // per class, as src/wasm/own_heap.rs gives them
const KEEP = 8; // calls shown
const STEPS = 64; // calls kept on the timeline

export function ownHeapWidget(wasm) {
  const title = "This page's own heap";
  const calls = {};
  instrument(wasm, calls);

  const table = el('table', { class: 'own-heap-table' });
  const log = el('ol', { class: 'own-heap-calls', 'aria-label': 'The last calls into the module that allocated' });
  const caption = el('figcaption', { class: 'caption', 'aria-live': 'polite' });
  const counters = el('dl', { class: 'figure-counters own-heap-counters' });
  const refresh = el('button', { type: 'button', class: 'own-heap-call' }, 'Call pool.freeList() on a new Pool');
  // Step 0 is the heap when the figure was made; step k, the heap after the k-th kept call.
  // (`number`: how many calls came before it since the figure was made, which stays with the
  // snapshot when the oldest ones are dropped.)
  const snapshots = [{ heap: wasm.ownHeap(), call: null, number: 0 }];
  let recorded = 0;
  let step = 0;
  const steps = timeline(title, 'page-heap', (k) => {
    step = Math.max(0, Math.min(k, snapshots.length - 1));
    show();
  });
  const figure = el('figure', { class: 'live-figure own-heap-figure', id: 'figure-page-heap', 'data-figure': 'page-heap',
    tabindex: -1, 'aria-label': title },
  el('p', { class: 'figure-title', 'aria-hidden': 'true' }, title),
  steps.bar, steps.calls, caption, refresh, el('div', { class: 'own-heap-scroll', tabindex: 0, role: 'region', 'aria-label': 'The size classes in use' }, table),
  el('p', { class: 'strip-title' }, el('strong', {}, 'The last calls that allocated'), ' (newest first)'), log, counters);

  if (wasm.ownHeapCalls() === 0 && wasm.ownHeap().length === 0) {
    caption.textContent = 'This build of the module runs on Rust\'s default allocator (built without page-heap): nothing to show.';
    return figure;
  }
  refresh.addEventListener('click', () => {
    // (A free list with a block on it: an empty one is an empty Vec, which allocates nothing.)
    const pool = new wasm.Pool(24, 8);
    pool.free(pool.alloc());
    pool.freeList();
    pool.destroy();
  });

  const show = () => {
    const last = snapshots.length - 1;
    steps.show(step, last, (i) => snapshots[i + 1].call.text, { start: 'the heap when this figure was made', end: 'the page\'s next call' });
    draw(snapshots[step], snapshots.slice(1, step + 1).map((snapshot) => snapshot.call), { table, log, caption, counters });
    figure.dataset.step = String(step);
    figure.dataset.callNumber = String(snapshots[step].number);
  };
  // Each call that allocated becomes a step, with the heap as it left it. Redraw at most once
  // a frame, and only while the figure is on screen (and once when it comes into view).
  let visible = false;
  let pending = false;
  const update = () => {
    pending = false;
    show();
    figure.dataset.calls = String(wasm.ownHeapCalls());
  };
  calls.onCall = (call) => {
    const following = step === snapshots.length - 1;
    recorded += 1;
    const heap = wasm.ownHeap();
    snapshots.push({ heap, call: { ...call, parts: heapCalls(wasm, heap, call) }, number: recorded });
    if (snapshots.length > STEPS + 1) {
      snapshots.splice(1, 1); // the oldest call goes; step 0 stays
      if (!following && step > 1) step -= 1; // the reader keeps looking at the same moment
    }
    if (following) step = snapshots.length - 1;
    if (visible && !pending) {
      pending = true;
      requestAnimationFrame(update);
    }
  };
  refresh.addEventListener('click', () => requestAnimationFrame(update));
  new IntersectionObserver(([entry]) => {
    visible = entry.isIntersecting;
    if (visible) update();
  }).observe(figure);
  update();
  return figure;
}

/** Wraps every method of the module's classes so that each call notes its allocations. */
function instrument(wasm, calls) {
  for (const name of ['Pool', 'Heap', 'TraceReplay']) {
    const prototype = wasm[name]?.prototype;
    if (!prototype) continue;
    for (const method of Object.getOwnPropertyNames(prototype)) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, method);
      if (method === 'constructor' || typeof descriptor.value !== 'function') continue;
      const original = descriptor.value;
      Object.defineProperty(prototype, method, {
        ...descriptor,
        value: function counted(...args) {
          const before = wasm.ownHeapCalls();
          try {
            return original.apply(this, args);
          } finally {
            const after = wasm.ownHeapCalls();
            if (after > before) calls.onCall?.({ text: `${name[0].toLowerCase()}${name.slice(1)}.${method}()`, from: before, to: after });
          }
        },
      });
    }
  }
}

function classLabel(row, size) {
  return size === 0 ? 'large (pages)' : `${size} B`;
}

/** The heap calls one call into the module made, as text: the heap's log read now, and `heap`
 * (its classes, just read) to name each entry's class. */
function heapCalls(wasm, heap, call) {
  const sizeOf = (row) => heap[row * FIELDS];
  const flat = wasm.ownHeapLog();
  const parts = [];
  for (let i = 0; i < flat.length && parts.length < 6; i += 4) {
    if (flat[i] < call.from || flat[i] >= call.to) continue;
    const [free, row, size] = [flat[i + 1] === 1, flat[i + 2], flat[i + 3]];
    parts.push(`${free ? 'free' : 'alloc'} ${size} B (${sizeOf(row) ? `class ${sizeOf(row)}` : 'pages'})`);
  }
  return parts;
}

function draw({ heap }, calls, { table, log, caption, counters }) {
  const rows = [];
  for (let at = 0; at < heap.length; at += FIELDS) rows.push([...heap.slice(at, at + FIELDS)]);
  const used = rows.filter(([, , , , , allocs]) => allocs > 0);
  table.replaceChildren(
    el('caption', { class: 'visually-hidden' }, 'The size classes of the module\'s own heap'),
    el('thead', {}, el('tr', {}, ['class', 'regions', 'blocks in use / blocks', 'share in use', 'bytes asked for', 'wasted by rounding up', 'allocs / frees']
      .map((text) => el('th', { scope: 'col' }, text)))),
    el('tbody', {}, used.map(([size, regions, capacity, inUse, requested, allocs, frees], i) => {
      const large = size === 0;
      const reserved = large ? inUse : inUse * size;
      const share = capacity ? inUse / capacity : 0;
      return el('tr', { 'data-class': large ? 'large' : String(size) },
        el('th', { scope: 'row' }, classLabel(i, size)),
        el('td', {}, large ? '—' : String(regions)),
        el('td', {}, large ? `${reserved.toLocaleString('en-US')} B in pages` : `${inUse.toLocaleString('en-US')} / ${capacity.toLocaleString('en-US')}`),
        el('td', { class: 'bar-cell', 'aria-hidden': 'true' }, el('span', { class: 'bar', style: `width:${Math.max(share > 0 ? 2 : 0, Math.round(share * 100))}%` })),
        el('td', {}, requested.toLocaleString('en-US')),
        el('td', {}, (reserved - requested).toLocaleString('en-US')),
        el('td', {}, `${allocs} / ${frees}`));
    })));

  // The calls into the module that allocated, up to this step, with the heap calls each made.
  const recent = calls.slice(-KEEP).reverse();
  log.replaceChildren(...recent.map((call) => {
    const count = call.to - call.from;
    return el('li', {}, el('code', {}, call.text), ` — ${plural(count, 'heap call')}` +
      (call.parts.length ? `: ${call.parts.join(', ')}${count > call.parts.length ? ', …' : ''}` : ' (older than the log)'));
  }));

  const total = (i) => rows.reduce((n, row) => n + row[i], 0);
  const reserved = rows.reduce((n, [size, , , inUse]) => n + (size === 0 ? inUse : inUse * size), 0);
  const requested = total(4);
  const held = rows.reduce((n, [size, , capacity]) => n + capacity * size, 0);
  const last = recent[0];
  caption.textContent = `The module has made ${total(5).toLocaleString('en-US')} allocations and ${total(6).toLocaleString('en-US')} frees ` +
    `on its own heap, in ${used.length} size class${used.length === 1 ? '' : 'es'}. Its live blocks hold ${reserved.toLocaleString('en-US')} bytes for ` +
    `${requested.toLocaleString('en-US')} asked for.` + (last ? ` The last call that allocated: ${last.text}.` : '');
  const items = [
    ['allocs', 'allocations', total(5)], ['frees', 'frees', total(6)],
    ['reserved', 'bytes in live blocks', reserved], ['requested', 'bytes asked for', requested],
    ['held', 'bytes in class regions', held],
  ];
  counters.replaceChildren(...items.map(([name, term, value]) => el('div', { class: 'counter' },
    el('dt', {}, term), el('dd', { 'data-counter': name, 'data-value': String(value) }, value.toLocaleString('en-US')))));
}
