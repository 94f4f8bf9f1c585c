// "A real program's heap": the allocation trace of a real Rust program (pulldown-cmark
// rendering this very story into HTML while it counts its words, recorded by
// examples/record_trace.rs under a recording GlobalAlloc: `make trace`), replayed in the
// module on the teaching heap and on the size classes. The charts are one full replay, noted
// after every event; the timeline moves a second replay (the real allocators, replayed from
// the start when the reader goes back), whose counters and heap are shown at that step.

import { el, plural, percent, svg } from '../format.js';
import { timeline } from './timeline.js';

/** The numbers `TraceReplay.series()` gives per step, in its order (src/wasm/trace.rs). */
const FIELDS = ['requested', 'peakRequested', 'heapReserved', 'heapFree', 'heapLargestFree',
  'heapSearched', 'heapFailed', 'classesReserved', 'classesHeld'];
const at = (series, k) => Object.fromEntries(FIELDS.map((name, i) => [name, series[k * FIELDS.length + i]]));
const bytes = (n) => `${n.toLocaleString('en-US')} B`;
const heapFragmentation = (c) => (c.heapFree === 0 ? 0 : 1 - c.heapLargestFree / c.heapFree);
const classesFragmentation = (c) => (c.classesReserved === 0 ? 0 : 1 - c.requested / c.classesReserved);

/** The charts: each `{ title, lines: [{ name, class, value(c) }], max }` over every step. */
const CHARTS = [
  { title: 'Bytes: requested, and reserved by each allocator', unit: bytes, lines: [
    { name: 'requested', class: 'l-requested', value: (c) => c.requested },
    { name: 'heap reserved', class: 'l-heap', value: (c) => c.heapReserved },
    { name: 'size classes reserved', class: 'l-classes', value: (c) => c.classesReserved },
  ] },
  { title: 'Fragmentation: heap external, size classes internal', unit: percent, fixedMax: 1, lines: [
    { name: 'heap: 1 − largest hole / free bytes', class: 'l-heap', value: heapFragmentation },
    { name: 'size classes: rounding, 1 − requested / reserved', class: 'l-classes', value: classesFragmentation },
  ] },
  { title: 'Blocks searched by first fit, in all (a pool searches none)', unit: (n) => n.toLocaleString('en-US'), lines: [
    { name: 'heap', class: 'l-heap', value: (c) => c.heapSearched },
  ] },
];

const WIDTH = 600;
const HEIGHT = 110;

export function traceWidget(wasm) {
  const title = "A real program's heap";
  const caption = el('figcaption', { class: 'caption', 'aria-live': 'polite' }, 'Loading the trace…');
  const charts = el('div', { class: 'trace-charts' });
  const strip = el('canvas', { class: 'heap-strip', height: 36, role: 'img' });
  const counters = el('dl', { class: 'figure-counters trace-counters' });
  // (`load` sets `parts.goTo` once the trace is in.)
  const parts = { caption, charts, strip, counters };
  const steps = timeline(title, 'trace', (k) => parts.goTo?.(k));
  parts.steps = steps;
  const figure = el('figure', { class: 'live-figure trace-figure', id: 'figure-trace', 'data-figure': 'trace',
    tabindex: -1, 'aria-label': title },
  el('p', { class: 'figure-title', 'aria-hidden': 'true' }, title),
  steps.bar, steps.calls, caption, charts,
  el('p', { class: 'strip-title' }, el('strong', {}, 'The teaching heap at this step'),
    ' (256 KiB, low addresses left): blocks in use orange, holes blue.'),
  strip, counters);

  load(wasm, figure, parts).catch((error) => {
    caption.textContent = `The trace could not be replayed: ${error.message}`;
    figure.dataset.error = error.message;
  });
  return figure;
}

async function load(wasm, figure, parts) {
  const response = await fetch('trace/readme.trace');
  if (!response.ok) throw new Error(`trace/readme.trace: HTTP ${response.status}`);
  const replay = new wasm.TraceReplay(new Uint8Array(await response.arrayBuffer()));
  const series = replay.series();
  const events = replay.events();
  const last = events.length / 3;
  const describe = describer(events);
  const lines = drawCharts(parts.charts, series, last);

  const goTo = (k) => {
    const step = Math.max(0, Math.min(last, Number.isInteger(k) ? k : 0));
    replay.seek(step);
    render(replay, describe, step, last, parts, lines);
    figure.dataset.step = String(step);
  };
  parts.goTo = goTo;
  const range = parts.steps.range;
  figure.addEventListener('keydown', (event) => {
    if (event.target === range) return; // the slider has these keys itself
    const k = Number(figure.dataset.step);
    const to = { ArrowLeft: k - 1, ArrowRight: k + 1, Home: 0, End: last }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    goTo(to);
  });
  // A click on a chart moves the timeline there.
  parts.charts.addEventListener('click', (event) => {
    const chart = event.target.closest('svg');
    if (!chart) return;
    const box = chart.getBoundingClientRect();
    goTo(Math.round(((event.clientX - box.left) / box.width) * last));
  });
  new ResizeObserver(() => drawStrip(parts.strip, replay)).observe(parts.strip);
  goTo(0);
  figure.dataset.ready = 'true';
}

/** Event `i` in words: `alloc(24, align 8): block 57`, `free(block 3)`, `realloc(block 5, 120)`. */
function describer(events) {
  const blockOf = [];
  let blocks = 0;
  for (let i = 0; i < events.length; i += 3) blockOf.push(events[i] === 0 ? blocks++ : -1);
  return (i) => {
    const [kind, a, b] = events.subarray(3 * i, 3 * i + 3);
    if (kind === 0) return `alloc(${a}, align ${b}): block ${blockOf[i]}`;
    return kind === 1 ? `free(block ${a})` : `realloc(block ${a}, ${b})`;
  };
}

function drawCharts(container, series, last) {
  const every = Math.max(1, Math.ceil(last / WIDTH));
  const cursors = [];
  container.replaceChildren(...CHARTS.map((chart) => {
    const values = chart.lines.map((line) => {
      const points = [];
      for (let k = 0; k <= last; k += every) points.push([k, line.value(at(series, k))]);
      points.push([last, line.value(at(series, last))]);
      return points;
    });
    const max = chart.fixedMax ?? Math.max(1, ...values.flat().map(([, v]) => v));
    const x = (k) => (k / Math.max(1, last)) * WIDTH;
    const y = (v) => HEIGHT - 4 - (v / max) * (HEIGHT - 8);
    const cursor = svg('line', { class: 'cursor', x1: 0, x2: 0, y1: 0, y2: HEIGHT });
    cursors.push(cursor);
    const plot = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none', class: 'trace-chart',
      role: 'img', 'aria-label': `${chart.title}, over the ${last} events of the trace; up to ${chart.unit(max)}` },
    ...values.map((points, i) => svg('polyline', { class: chart.lines[i].class, fill: 'none',
      'vector-effect': 'non-scaling-stroke', points: points.map(([k, v]) => `${x(k).toFixed(1)},${y(v).toFixed(1)}`).join(' ') })),
    cursor);
    return el('div', { class: 'trace-panel' },
      el('p', { class: 'chart-title' }, chart.title, el('span', { class: 'chart-max' }, ` (top: ${chart.unit(max)})`)),
      plot,
      el('ul', { class: 'chart-key' }, chart.lines.map((line) => el('li', {},
        el('span', { class: `swatch ${line.class}`, 'aria-hidden': 'true' }), ` ${line.name}`))));
  }));
  return { cursors, x: (k) => (k / Math.max(1, last)) * WIDTH };
}

function render(replay, describe, k, last, parts, lines) {
  const { steps, caption, counters } = parts;
  const now = k ? describe(k - 1) : null;
  steps.show(k, last, describe, { start: 'the start: the program has not allocated yet', end: 'the end' });
  for (const cursor of lines.cursors) {
    cursor.setAttribute('x1', lines.x(k));
    cursor.setAttribute('x2', lines.x(k));
  }

  // The counters of the replay at this step: the allocators' own.
  const raw = replay.counters();
  const c = Object.fromEntries(FIELDS.map((name, i) => [name, raw[i]]));
  const rows = [
    ['requested', 'live bytes requested', c.requested, bytes],
    ['peak-requested', 'most ever live', c.peakRequested, bytes],
    ['heap-reserved', 'heap: reserved (headers, rounding)', c.heapReserved, bytes],
    ['heap-fragmentation', 'heap: external fragmentation', heapFragmentation(c), percent],
    ['heap-searched', 'heap: blocks searched', c.heapSearched, String],
    ['heap-failed', 'heap: failed requests', c.heapFailed, String],
    ['classes-reserved', 'size classes: reserved (rounded up)', c.classesReserved, bytes],
    ['classes-fragmentation', 'size classes: internal fragmentation', classesFragmentation(c), percent],
    ['classes-held', 'size classes: memory held (their regions)', c.classesHeld, bytes],
  ];
  counters.replaceChildren(...rows.map(([name, term, value, shown]) => el('div', { class: 'counter' },
    el('dt', {}, term), el('dd', { 'data-counter': name, 'data-value': String(value) }, shown(value)))));
  caption.textContent = k === 0
    ? `A trace of ${last} events: every alloc, realloc and free the program made. Move the slider, or click a chart.`
    : `Step ${k} of ${last}: ${now}. The program has ${bytes(c.requested)} live. The heap holds them in ` +
      `${bytes(c.heapReserved)} and has searched ${plural(c.heapSearched, 'free block')} so far; the size classes ` +
      `reserve ${bytes(c.classesReserved)} for them, out of ${bytes(c.classesHeld)} taken from memory.`;
  drawStrip(parts.strip, replay);
}

/** The teaching heap's blocks at this step, as a strip of the heap's bytes. */
function drawStrip(canvas, replay) {
  const width = Math.max(100, Math.round(canvas.clientWidth * devicePixelRatio));
  const height = Math.round(36 * devicePixelRatio);
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const context = canvas.getContext('2d');
  const blocks = replay.heapBlocks();
  const counters = replay.counters();
  const scale = width / (counters[2] + counters[3]); // the heap's bytes: reserved + free
  let used = 0;
  let holes = 0;
  for (let i = 0; i < blocks.length; i += 3) {
    const inUse = blocks[i + 2] === 1;
    if (inUse) used += 1; else holes += 1;
    context.fillStyle = inUse ? '#e69f00' : '#b9e0f6';
    context.fillRect(blocks[i] * scale, 0, Math.max(1, blocks[i + 1] * scale), height);
  }
  canvas.setAttribute('aria-label', `The teaching heap: ${plural(used, 'block')} in use and ${plural(holes, 'free block')} in address order`);
}
