// Pool vs heap: one workload of mixed sizes run on a real Pool and on the crate's teaching
// Heap (first fit, headers, splitting, coalescing), side by side, with each one's map,
// numbers, and external fragmentation charted after every operation.

import { el, hex, plural, percent, svg } from './format.js';

/** The pool's blocks are as large as the largest request; the heap gets as many bytes. */
export const BLOCK_SIZE = 64;
export const BLOCK_COUNT = 12;
export const HEAP_SIZE = BLOCK_SIZE * BLOCK_COUNT;

/**
 * The classic way to fragment a heap: big short-lived objects interleaved with small
 * long-lived ones, the big ones freed, then requests a little larger than their holes.
 */
export const WORKLOAD = [
  ...[1, 2, 3, 4, 5, 6].flatMap((i) => [
    { op: 'alloc', name: `big${i}`, size: 56 },
    { op: 'alloc', name: `small${i}`, size: 8 },
  ]),
  ...[1, 2, 3, 4, 5, 6].map((i) => ({ op: 'free', name: `big${i}` })),
  ...[1, 2, 3, 4, 5, 6].map((i) => ({ op: 'alloc', name: `medium${i}`, size: 64 })),
  ...[1, 2, 3].map((i) => ({ op: 'free', name: `small${i}` })),
  { op: 'alloc', name: 'medium7', size: 64 },
  { op: 'alloc', name: 'medium8', size: 64 },
];

/**
 * What the workload is doing, chapter by chapter: [the last step of the chapter, what happens].
 * The figure shows the chapter of its step beside the sentence about the last operation.
 */
export const CHAPTERS = [
  [0, 'Nothing has run yet. Press ▶: the same objects of mixed sizes go to both allocators.'],
  [12, 'Big objects (56 B, short-lived) alternate with small ones (8 B, long-lived). The heap packs them tightly, a header in front of each; the pool wastes the tail of each block, and is full after six pairs.'],
  [18, 'Every big object is freed. In the heap their holes cannot merge: a small long-lived object sits between each two.'],
  [22, 'Four 64-byte requests. No hole left by a 56-byte object fits 64 bytes and a header, so the heap searches past all of them every time and carves the end of the heap instead.'],
  [24, 'Two more 64-byte requests: the heap fails, though it has hundreds of free bytes. That is external fragmentation. The pool serves them: any free block fits.'],
  [27, 'Three small objects are freed. Now the heap can merge the holes around them into larger ones…'],
  [29, '…and the next 64-byte requests fit again. The pool, meanwhile, had no fragmentation to heal.'],
];

/** The chapter step `k` belongs to. */
export function chapterOf(k) {
  return CHAPTERS.find(([last]) => k <= last)[1];
}

/** The largest request of the workload: what "a hole too small" is measured against. */
export const LARGEST_REQUEST = Math.max(...WORKLOAD.map((step) => step.size ?? 0));

export class Comparison {
  constructor(wasm) {
    this.wasm = wasm;
    this.pool = null;
    this.heap = null;
    this.reset();
  }

  get available() {
    return typeof this.wasm.Heap === 'function';
  }

  get done() {
    return this.step >= WORKLOAD.length;
  }

  reset() {
    this.pool?.destroy();
    this.heap?.destroy();
    this.pool = new this.wasm.Pool(BLOCK_SIZE, BLOCK_COUNT);
    this.heap = this.available ? new this.wasm.Heap(HEAP_SIZE) : null;
    /** name → {pool: address, heap: address, size} */
    this.objects = new Map();
    /** pool block index → requested bytes */
    this.requested = new Map();
    this.step = 0;
    this.failed = { pool: 0, heap: 0 };
    this.history = [this.measure()];
    this.last = 'Nothing has run yet: both allocators are empty.';
  }

  /** Runs the next operation on both allocators; returns a sentence saying what happened. */
  next() {
    if (this.done) return this.last;
    const step = WORKLOAD[this.step++];
    this.last = step.op === 'alloc' ? this.alloc(step) : this.free(step);
    this.history.push(this.measure());
    return this.last;
  }

  alloc({ name, size }) {
    const poolAddress = this.pool.alloc();
    const searchedBefore = this.heap ? Number(this.heap.blocksSearched) : 0;
    const heapAddress = this.heap?.alloc(size);
    this.objects.set(name, { pool: poolAddress, heap: heapAddress, size });
    if (poolAddress !== undefined) this.requested.set(this.pool.indexOf(poolAddress), size);
    else this.failed.pool++;
    if (heapAddress === undefined) this.failed.heap++;
    const poolPart = poolAddress === undefined
      ? 'the pool is full'
      : `the pool hands out block ${this.pool.indexOf(poolAddress)} (${BLOCK_SIZE - size} bytes of it unused)`;
    if (!this.heap) return `alloc(${size}) for ${name}: ${poolPart}.`;
    const searched = Number(this.heap.blocksSearched) - searchedBefore;
    const heapPart = heapAddress === undefined
      ? `the heap FAILS: ${this.heap.totalFree} bytes are free, but its largest hole ` +
        `serves only ${this.heap.largestRequest} bytes`
      : `the heap returns ${hex(heapAddress)} after looking at ${plural(searched, 'free block')}`;
    return `alloc(${size}) for ${name}: ${poolPart}; ${heapPart}.`;
  }

  free({ name }) {
    const object = this.objects.get(name);
    this.objects.delete(name);
    const parts = [];
    if (object?.pool !== undefined) {
      const index = this.pool.indexOf(object.pool);
      this.pool.free(object.pool);
      this.requested.delete(index);
      parts.push(`the pool pushes block ${index} onto its free list`);
    }
    if (this.heap && object?.heap !== undefined) {
      const merges = Number(this.heap.merges);
      this.heap.free(object.heap);
      const merged = Number(this.heap.merges) - merges;
      parts.push(merged
        ? `the heap merges the block with ${plural(merged, 'free neighbour')}`
        : 'the heap puts the block on its free list (no free neighbour to merge with)');
    }
    return `free(${name}): ${parts.join('; ') || 'it was never allocated'}.`;
  }

  /** Free bytes, and the share of them in holes too small for the largest request. */
  measure() {
    const poolFree = (BLOCK_COUNT - this.pool.inUse) * BLOCK_SIZE;
    const point = { pool: 0, heap: 0, poolFree, heapFree: 0, heapClassic: 0 };
    // A pool hole is one free block: it serves a request if the block is large enough.
    const poolUnusable = this.pool.blockSize >= LARGEST_REQUEST ? 0 : poolFree;
    point.pool = poolFree ? poolUnusable / poolFree : 0;
    if (this.heap) {
      const holes = heapBlocks(this.heap).filter((block) => !block.used);
      const total = holes.reduce((sum, hole) => sum + hole.size, 0);
      const unusable = holes
        .filter((hole) => hole.size - this.wasm.Heap.headerSize() < LARGEST_REQUEST)
        .reduce((sum, hole) => sum + hole.size, 0);
      point.heapFree = total;
      point.heap = total ? unusable / total : 0;
      point.heapClassic = this.heap.fragmentation;
    }
    return point;
  }
}

/** The heap's blocks as objects, from its flat [address, size, used, …] array. */
export function heapBlocks(heap) {
  const flat = heap.blocks();
  const blocks = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    blocks.push({ address: flat[i], size: flat[i + 1], used: flat[i + 2] === 1 });
  }
  return blocks;
}

/** Draws both sides and the chart. */
export function drawComparison(elements, comparison) {
  elements.op.textContent = `Operation ${comparison.step} of ${WORKLOAD.length}. ${chapterOf(comparison.step)}` +
    (comparison.step ? ` This operation: ${comparison.last}` : '');
  const now = comparison.history.at(-1);
  drawPoolSide(elements.pool, comparison, now);
  drawHeapSide(elements.heap, comparison, now);
  drawChart(elements.chart, comparison.history);
}

function drawPoolSide(container, comparison, now) {
  const pool = comparison.pool;
  const states = pool.blockStates();
  const bar = el('div', { class: 'bar', role: 'img', 'aria-label': `Pool map: ${states.length} blocks of ${BLOCK_SIZE} bytes` });
  let wasted = 0;
  states.forEach((state, index) => {
    const name = ['never used', 'free', 'in use'][state];
    const segment = el('div', {
      class: `seg ${['never-used', 'free', 'in-use'][state]}`,
      style: `flex-grow:${BLOCK_SIZE}`,
      title: `block ${index}: ${name}`,
    });
    if (state === 2) {
      const requested = comparison.requested.get(index) ?? BLOCK_SIZE;
      wasted += BLOCK_SIZE - requested;
      segment.append(el('span', { class: 'seg-used', style: `width:${(100 * requested) / BLOCK_SIZE}%` }));
    }
    bar.append(segment);
  });
  container.replaceChildren(
    el('h3', {}, `Pool: ${BLOCK_COUNT} blocks of ${BLOCK_SIZE} bytes`),
    bar,
    stats([
      ['In use', `${pool.inUse} of ${BLOCK_COUNT} blocks`],
      ['Free bytes', `${now.poolFree}`],
      ['Largest request it can serve now', pool.inUse < BLOCK_COUNT ? `${BLOCK_SIZE} B` : 'none (full)'],
      ['External fragmentation', percent(now.pool), 'fragmentation-pool'],
      ['Failed allocations', String(comparison.failed.pool), 'failed-pool'],
      ['Wasted inside blocks (internal fragmentation)', `${wasted} B`],
      ['Blocks searched per alloc', '0 (pop the free list)'],
    ]));
}

function drawHeapSide(container, comparison, now) {
  const heap = comparison.heap;
  if (!heap) {
    container.replaceChildren(el('h3', {}, 'Heap'), el('p', { class: 'note' },
      'This build of the module has no Heap export.'));
    return;
  }
  const header = comparison.wasm.Heap.headerSize();
  const blocks = heapBlocks(heap);
  const bar = el('div', { class: 'bar', role: 'img', 'aria-label': `Heap map: ${blocks.length} blocks` });
  for (const block of blocks) {
    const kind = block.used ? 'in-use' : 'free';
    bar.append(el('div', {
      class: `seg ${kind}`,
      style: `flex-grow:${block.size}`,
      title: `${block.used ? 'in use' : 'free'}: ${block.size} bytes at ${hex(block.address)} (header ${header} B)`,
    }, el('span', { class: 'seg-header', style: `width:${(100 * header) / block.size}%` }),
    block.used ? el('span', { class: 'seg-used', style: 'flex:1' }) : null));
  }
  const holes = blocks.filter((block) => !block.used).map((block) => block.size);
  container.replaceChildren(
    el('h3', {}, `Heap: ${HEAP_SIZE} bytes, first fit`),
    bar,
    stats([
      ['In use', plural(heap.inUse, 'block')],
      ['Free bytes', `${now.heapFree} in ${plural(holes.length, 'hole')}` +
        (holes.length ? ` (${holes.join(', ')})` : '')],
      ['Largest request it can serve now', `${heap.largestRequest} B`],
      ['External fragmentation', percent(now.heap), 'fragmentation-heap'],
      ['1 − largest hole / total free', percent(now.heapClassic)],
      ['Failed allocations', String(comparison.failed.heap), 'failed-heap'],
      ['Headers of the blocks in use', `${heap.headerBytes} B`],
      ['Blocks searched, all allocs', String(heap.blocksSearched)],
    ]));
}

function stats(rows) {
  return el('dl', { class: 'counters compact' }, rows.map(([term, value, name]) =>
    el('div', { class: 'counter' }, el('dt', {}, term), el('dd', { 'data-counter': name }, value))));
}

/** A small line chart: fragmentation (0–100%) after each operation, pool and heap. */
function drawChart(container, history) {
  const width = 600;
  const height = 160;
  const left = 44;
  const bottom = 24;
  const top = 10;
  const steps = Math.max(WORKLOAD.length, 1);
  // The last 76 px are for the lines' end labels.
  const x = (i) => left + ((width - left - 76) * i) / steps;
  const y = (value) => top + (height - top - bottom) * (1 - value);
  const line = (key) => history.map((point, i) => `${x(i).toFixed(1)},${y(point[key]).toFixed(1)}`).join(' ');
  const chart = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img',
    'aria-label': `Fragmentation after ${history.length - 1} operations: pool ${percent(history.at(-1).pool)}, heap ${percent(history.at(-1).heap)}`,
  });
  for (const value of [0, 0.5, 1]) {
    chart.append(
      svg('line', { x1: left, x2: x(steps), y1: y(value), y2: y(value), class: 'grid' }),
      svg('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'axis' }, percent(value)));
  }
  // Each line is named in words twice: in the key (a sample of its stroke beside its name)
  // and at its last point, with its value, so no reader has to tell the colours apart.
  const key = (series, name, x0) => [
    svg('line', { x1: x0, x2: x0 + 22, y1: top + 10, y2: top + 10, class: `series ${series}` }),
    svg('text', { x: x0 + 28, y: top + 14, class: 'key' }, name),
  ];
  const last = history.length - 1;
  const end = (series, dy) => svg('text', {
    x: x(last) + 6, y: y(history[last][series]) + 4 + dy, class: `end-label ${series}`,
  }, `${series} ${percent(history[last][series])}`);
  // Labels of lines that end close together are moved apart, the higher line's upwards.
  const gap = y(history[last].pool) - y(history[last].heap);
  const push = Math.abs(gap) < 14 ? (14 - Math.abs(gap)) / 2 : 0;
  const apart = gap >= 0 ? [-push, push] : [push, -push];
  chart.append(
    svg('text', { x: width - 10, y: height - 6, 'text-anchor': 'end', class: 'axis' }, 'operations →'),
    svg('polyline', { points: line('heap'), class: 'series heap' }),
    svg('polyline', { points: line('pool'), class: 'series pool' }),
    ...key('heap', 'heap (solid)', left + 8),
    ...key('pool', 'pool (dashed)', left + 130),
    end('heap', apart[0]), end('pool', apart[1]));
  container.replaceChildren(chart);
}
