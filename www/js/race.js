// "A race on your machine": the benchmarks' three workloads on four allocators, timed in the
// reader's browser by a Web Worker (race-worker.js) with its own instance of the module, so
// the page never freezes. The table is the figure and its own text alternative; a summary
// sentence is announced when the race ends; "Copy results" writes the table as plain text.
//
// Beside each figure measured here stand the figures the README's benchmarks measured on the
// project's machine (`make bench`, benches/results.md, 2026-11-25: 64-byte blocks, the fastest
// sample; and `make bench-size-classes` for SizeClasses's pair). They are quoted, not measured
// by the page, and say so.

import { el } from './format.js';

const ALLOCATORS = [
  { id: 'pool', name: 'Pool' },
  { id: 'sizeClasses', name: 'SizeClasses' },
  { id: 'dlmalloc', name: 'dlmalloc' },
  { id: 'heap', name: 'teaching Heap' },
];
const WORKLOADS = [
  { id: 'pair', name: 'pair', long: 'alloc, then free at once' },
  { id: 'lifo', name: 'LIFO batch', long: '10,000 allocs, freed last-in-first-out' },
  { id: 'random', name: 'random batch', long: '10,000 allocs, freed in random order' },
];

/** The README's figures (ns per alloc+free, 64-byte blocks), by allocator and workload. */
export const README_FIGURES = {
  pool: { native: { pair: 1.3, lifo: 5.08, random: 6.24 }, node: { pair: 2.27, lifo: 3.63, random: 5.11 } },
  sizeClasses: { native: { pair: 26.4 } },
  dlmalloc: { node: { pair: 6.25, lifo: 7.19, random: 19.25 } },
  heap: {},
};

/** "3.79 ns", "1.48 µs": as the README prints its figures. */
function duration(ns) {
  if (ns >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(ns >= 100 ? 0 : 2)} ns`;
}

/** The README's figures for one allocator, as a short text ("native 2.17 / 5.04 / 7.11 ns"). */
function quoted(id) {
  const parts = [];
  for (const [where, label] of SOURCES) {
    const figures = README_FIGURES[id][where];
    if (!figures) continue;
    parts.push(`${label} ${WORKLOADS.map((w) => (figures[w.id] === undefined ? '–' : figures[w.id])).join(' / ')} ns`);
  }
  return parts.length ? parts.join('; ') : 'not benchmarked';
}

const SOURCES = [['native', 'native'], ['node', 'wasm in node']];

/** The README's figures for one allocator and workload, one line each, under the measured one. */
function quotedLines(id, workload) {
  const lines = SOURCES.flatMap(([where]) => {
    const figure = README_FIGURES[id][where]?.[workload];
    return figure === undefined ? [] : [el('span', { class: 'race-quoted' }, `${where} ${duration(figure)}`)];
  });
  return lines.length ? lines : [el('span', { class: 'race-quoted' }, 'README: none')];
}

export class Race {
  constructor() {
    this.worker = null;
    this.results = new Map(); // "allocator workload" → { ns, operations, samples }
    this.arrived = []; // the same results in the order they came: the timeline's steps
    this.element = this.build();
    this.showStep(0);
  }

  build() {
    this.startButton = el('button', { type: 'button', class: 'race-start' }, 'Start the race');
    this.stopButton = el('button', { type: 'button', class: 'race-stop', disabled: true }, 'Stop');
    this.copyButton = el('button', { type: 'button', class: 'race-copy', disabled: true }, 'Copy results');
    this.progress = el('progress', { class: 'race-progress', max: 1, value: 0, 'aria-label': 'Race progress' });
    this.status = el('p', { class: 'race-status', role: 'status', 'aria-live': 'polite' },
      'Not started. It takes a few seconds and runs beside the page, which stays usable.');
    this.copied = el('p', { class: 'race-copied', 'aria-live': 'polite' });
    this.cells = new Map();
    const head = el('tr', {}, el('th', { scope: 'col' }, 'allocator'),
      ...WORKLOADS.map((w) => el('th', { scope: 'col', title: w.long }, w.name)));
    const rows = ALLOCATORS.map((a) => el('tr', { 'data-allocator': a.id },
      el('th', { scope: 'row' }, a.name),
      ...WORKLOADS.map((w) => {
        const cell = el('span', { class: 'race-here' }, '–');
        this.cells.set(`${a.id} ${w.id}`, cell);
        return el('td', { 'data-workload': w.id, class: 'race-cell' }, cell, ...quotedLines(a.id, w.id));
      })));
    this.table = el('table', { class: 'race-table' },
      el('caption', {}, 'Time per alloc + free of a 64-byte block, lower is faster. In bold: measured here, in this browser. In grey below it: the README\'s benchmarks, measured on the project\'s machine (native: natively; node: as wasm in node), quoted, not measured by this page.'),
      el('thead', {}, head), el('tbody', {}, ...rows));
    // The timeline: step k shows the first k results, in the order the race produced them.
    this.range = el('input', { type: 'range', class: 'step-range', min: 0, max: 0, step: 1, value: 0,
      id: 'figure-race-range', 'aria-label': 'A race on your machine: step', disabled: true });
    this.prev = el('button', { type: 'button', class: 'step-prev', 'aria-label': 'A race on your machine: previous step', disabled: true }, '◀');
    this.next = el('button', { type: 'button', class: 'step-next', 'aria-label': 'A race on your machine: next step', disabled: true }, '▶');
    this.callsLabel = el('p', { class: 'call-label race-step' });
    this.range.addEventListener('input', () => this.showStep(Number(this.range.value)));
    this.prev.addEventListener('click', () => this.showStep(this.step - 1));
    this.next.addEventListener('click', () => this.showStep(this.step + 1));
    this.step = 0;
    this.text = el('textarea', { class: 'race-text', readonly: true, rows: 7, hidden: true, 'aria-label': 'The results as text' });

    this.startButton.addEventListener('click', () => this.start());
    this.stopButton.addEventListener('click', () => this.stop());
    this.copyButton.addEventListener('click', () => this.copy());

    return el('figure', { class: 'live-figure race-figure', id: 'figure-race', 'data-figure': 'race', 'aria-label': 'A race on your machine' },
      el('p', { class: 'figure-title', 'aria-hidden': 'true' }, 'A race on your machine'),
      el('p', { class: 'hint' }, 'Each allocator runs the benchmarks\' three workloads on 64-byte blocks: ',
        ...WORKLOADS.flatMap((w, i) => [el('strong', {}, w.name), `: ${w.long}${i < WORKLOADS.length - 1 ? '; ' : '.'}`]),
        ' A Web Worker with its own copy of the module (fetched when you press Start) times calls that each do thousands of them with performance.now(), and keeps each one\'s fastest.'),
      el('div', { class: 'buttons race-buttons' }, this.startButton, this.stopButton, this.copyButton),
      this.progress, this.status,
      el('div', { class: 'timeline', role: 'group', 'aria-label': 'A race on your machine: timeline' },
        this.prev, this.range, this.next),
      this.callsLabel,
      el('div', { class: 'race-table-wrap' }, this.table),
      this.copied, this.text);
  }

  start() {
    this.stop({ quiet: true });
    this.results.clear();
    this.arrived = [];
    this.showStep(0);
    this.progress.value = 0;
    this.say('Racing… the first allocator warms up.');
    const worker = new Worker(new URL('./race-worker.js', import.meta.url), { type: 'module' });
    // A message already on its way when the worker was stopped is dropped: after Stop, nothing moves.
    worker.onmessage = (event) => this.worker === worker && this.receive(event.data);
    worker.onerror = (event) => this.worker === worker &&
      this.finish(`The race could not run: ${event.message || 'the worker failed to start'}.`);
    this.worker = worker;
    worker.postMessage({ type: 'start', allocators: ALLOCATORS.map((a) => a.id), workloads: WORKLOADS.map((w) => w.id) });
    this.startButton.disabled = true;
    this.stopButton.disabled = false;
    this.copyButton.disabled = true;
    this.element.dataset.state = 'running';
  }

  receive(message) {
    if (message.type === 'progress') {
      this.progress.value = message.done;
      this.progress.textContent = `${Math.round(message.done * 100)}%`;
    } else if (message.type === 'result') {
      this.results.set(`${message.allocator} ${message.workload}`, message);
      // The timeline follows the race unless the reader has moved it back.
      const following = this.step === this.arrived.length;
      this.arrived.push(message);
      this.showStep(following ? this.arrived.length : this.step);
      this.say(`${name(message.allocator)}, ${workloadName(message.workload)}: ${duration(message.ns)} per alloc + free.`);
    } else if (message.type === 'done') {
      this.finish(`Done. ${this.summary()}`);
      this.element.dataset.state = 'done';
    } else if (message.type === 'error') {
      this.finish(`The race stopped with an error: ${message.message}`);
    }
  }

  /** Stops the worker at once: terminate() ends it mid-call, nothing more is reported. */
  stop({ quiet = false } = {}) {
    if (!this.worker) return;
    this.worker.terminate();
    this.worker = null;
    if (!quiet) {
      this.finish(`Stopped at ${Math.round(this.progress.value * 100)}%. ${this.results.size ? 'The figures so far stay in the table.' : ''}`);
      this.element.dataset.state = 'stopped';
    }
  }

  finish(text) {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.say(text);
    this.startButton.disabled = false;
    this.startButton.textContent = 'Race again';
    this.stopButton.disabled = true;
    this.copyButton.disabled = this.results.size === 0;
  }

  say(text) {
    this.status.textContent = text;
  }

  /** Shows the first `step` results (a pure function of them), the fastest of each complete workload marked. */
  showStep(step) {
    this.step = Math.max(0, Math.min(step, this.arrived.length));
    const shown = new Map(this.arrived.slice(0, this.step).map((r) => [`${r.allocator} ${r.workload}`, r]));
    for (const [key, cell] of this.cells) {
      const r = shown.get(key);
      cell.textContent = r ? duration(r.ns) : '–';
      cell.parentElement.title = r ? `fastest of ${r.samples} timed calls of ${r.operations.toLocaleString('en')} alloc+free each` : '';
    }
    for (const w of WORKLOADS) {
      const times = ALLOCATORS.map((a) => shown.get(`${a.id} ${w.id}`)?.ns ?? Infinity);
      const best = Math.min(...times);
      const complete = times.every(Number.isFinite);
      ALLOCATORS.forEach((a, i) => this.cells.get(`${a.id} ${w.id}`).parentElement.classList.toggle('best', complete && times[i] === best));
    }
    const count = this.arrived.length;
    this.range.max = count;
    this.range.value = this.step;
    this.range.disabled = count === 0;
    this.prev.disabled = this.step === 0;
    this.next.disabled = this.step >= count;
    this.element?.setAttribute('data-step', this.step);
    const label = (r) => `${name(r.allocator)}, ${workloadName(r.workload)}: ${duration(r.ns)}`;
    const current = this.arrived[this.step - 1];
    const after = this.arrived[this.step];
    this.callsLabel.textContent = count === 0 ? 'No result yet: each one becomes a step of this timeline.'
      : `Step ${this.step} of ${count}${current ? `: ${label(current)}` : ': before the first result'}${after ? ` · next: ${label(after)}` : ''}`;
  }

  /** One sentence per workload: who was fastest here, and by how much over the slowest. */
  summary() {
    return WORKLOADS.map((w) => {
      const ranked = ALLOCATORS.map((a) => ({ a, r: this.results.get(`${a.id} ${w.id}`) }))
        .filter((x) => x.r).sort((x, y) => x.r.ns - y.r.ns);
      if (ranked.length === 0) return '';
      const first = ranked[0];
      const last = ranked[ranked.length - 1];
      const ratio = last.r.ns / first.r.ns;
      return `${w.name[0].toUpperCase()}${w.name.slice(1)}: ${first.a.name} fastest at ${duration(first.r.ns)}, ${last.a.name} slowest at ${duration(last.r.ns)} (${ratio.toFixed(ratio >= 10 ? 0 : 1)}×).`;
    }).join(' ');
  }

  /** The table as plain text, one line per allocator, columns separated by " | ". */
  asText() {
    const lines = [
      'ns per alloc+free of a 64-byte block, measured in this browser (fastest timed call)',
      `browser: ${navigator.userAgent}`,
      `allocator | ${WORKLOADS.map((w) => w.name).join(' | ')} | README (pair / LIFO / random, not measured here)`,
      ...ALLOCATORS.map((a) => [a.name, ...WORKLOADS.map((w) => {
        const r = this.results.get(`${a.id} ${w.id}`);
        return r ? duration(r.ns) : '–';
      }), quoted(a.id)].join(' | ')),
    ];
    return `${lines.join('\n')}\n`;
  }

  async copy() {
    const text = this.asText();
    this.text.value = text;
    try {
      await navigator.clipboard.writeText(text);
      this.copied.textContent = 'Copied the results as text.';
      this.text.hidden = true;
    } catch {
      // No clipboard (permission refused, or not a secure context): show the text to copy.
      this.text.hidden = false;
      this.text.select();
      this.copied.textContent = 'The browser did not allow copying: the text is selected below, press Ctrl+C (⌘C).';
    }
  }
}

const name = (id) => ALLOCATORS.find((a) => a.id === id)?.name ?? id;
const workloadName = (id) => WORKLOADS.find((w) => w.id === id)?.name ?? id;
