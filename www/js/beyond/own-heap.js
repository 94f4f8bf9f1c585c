// "This page's own heap": the module this page runs on allocates with SizeClasses (its
// #[global_allocator], counted: src/wasm/own_heap.rs). Every array and string the boundary
// hands to JavaScript, every object it boxes, is a block of one of its classes. This figure
// draws the classes as they are now and names the calls into the module that allocated: the
// methods of Pool, Heap and TraceReplay are wrapped so that each call notes which of the
// heap's numbered allocations and frees happened during it. Reading the heap (ownHeap,
// ownHeapLog) allocates nothing in the module, so looking does not change it.

import { el, plural } from '../format.js';

const FIELDS = 7; // per class, as src/wasm/own_heap.rs gives them
const KEEP = 8; // calls shown

export function ownHeapWidget(wasm) {
  const title = "This page's own heap";
  const calls = [];
  instrument(wasm, calls);

  const table = el('table', { class: 'own-heap-table' });
  const log = el('ol', { class: 'own-heap-calls', 'aria-label': 'The last calls into the module that allocated' });
  const caption = el('figcaption', { class: 'caption', 'aria-live': 'polite' });
  const counters = el('dl', { class: 'figure-counters own-heap-counters' });
  const refresh = el('button', { type: 'button', class: 'own-heap-call' }, 'Call pool.freeList() on a new Pool');
  const figure = el('figure', { class: 'live-figure own-heap-figure', id: 'figure-page-heap', 'data-figure': 'page-heap',
    tabindex: -1, 'aria-label': title },
  el('p', { class: 'figure-title', 'aria-hidden': 'true' }, title),
  caption, refresh, el('div', { class: 'own-heap-scroll', tabindex: 0, role: 'region', 'aria-label': 'The size classes in use' }, table),
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

  // Redraw after a call into the module that allocated, at most once a frame, and only while
  // the figure is on screen (and once when it comes into view).
  let visible = false;
  let drawn = -1;
  let pending = false;
  const update = () => {
    pending = false;
    const now = wasm.ownHeapCalls();
    if (now === drawn) return;
    drawn = now;
    draw(wasm, calls, { table, log, caption, counters });
    figure.dataset.calls = String(now);
  };
  calls.onCall = () => {
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
            if (after > before) {
              calls.push({ text: `${name[0].toLowerCase()}${name.slice(1)}.${method}()`, from: before, to: after });
              if (calls.length > 64) calls.shift();
              calls.onCall?.();
            }
          }
        },
      });
    }
  }
}

function classLabel(row, size) {
  return size === 0 ? 'large (pages)' : `${size} B`;
}

function draw(wasm, calls, { table, log, caption, counters }) {
  const heap = wasm.ownHeap();
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

  // The log of the heap's own calls, matched to the calls into the module that made them.
  const flat = wasm.ownHeapLog();
  const byNumber = new Map();
  for (let i = 0; i < flat.length; i += 4) byNumber.set(flat[i], { free: flat[i + 1] === 1, row: flat[i + 2], size: flat[i + 3] });
  const sizeOf = (row) => rows[row]?.[0];
  const recent = calls.slice(-KEEP).reverse();
  log.replaceChildren(...recent.map((call) => {
    const parts = [];
    for (let n = call.from; n < call.to && parts.length < 6; n++) {
      const entry = byNumber.get(n);
      if (!entry) continue;
      const where = sizeOf(entry.row) ? `class ${sizeOf(entry.row)}` : 'pages';
      parts.push(`${entry.free ? 'free' : 'alloc'} ${entry.size} B (${where})`);
    }
    const count = call.to - call.from;
    return el('li', {}, el('code', {}, call.text), ` — ${plural(count, 'heap call')}` +
      (parts.length ? `: ${parts.join(', ')}${count > parts.length ? ', …' : ''}` : ' (older than the log)'));
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
