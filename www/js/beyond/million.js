// "A million blocks": one real pool of 1,048,576 blocks of 64 bytes (64 MiB of the module's
// linear memory), drawn as a heat map straight from its state bytes. Every 16 KiB chunk is
// a 16 × 16 tile of blocks (one pixel each when the map is at 1 px per block), 64 tiles to a
// row, so a chunk's blocks and its own free list stay together on the screen. Batches of
// random frees and allocations run in the module (Pool.freeRandom, Pool.allocMany); the map
// is redrawn from memory after each, and the time of that redraw is shown.

import { el, plural } from '../format.js';
import { timeline } from './timeline.js';

const BLOCK_SIZE = 64;
const BLOCK_COUNT = 1 << 20;
const TILE = 16; // blocks per tile side: 256 blocks of 64 bytes = one 16 KiB chunk
const PER_CHUNK = TILE * TILE;
const TILES_PER_ROW = 64;
const IMAGE_WIDTH = TILE * TILES_PER_ROW;
/** Okabe–Ito: never used (light grey), free (sky blue), in use (orange), last batch (vermillion). */
const RGBA = [[0xe5, 0xe7, 0xeb], [0x56, 0xb4, 0xe9], [0xe6, 0x9f, 0x00], [0xd5, 0x5e, 0x00]];
/** Block sizes on screen, in CSS pixels per block; 0 fits the whole pool. */
const ZOOMS = [0, 1, 2, 4, 8, 16, 32];

export function millionWidget(wasm) {
  const title = 'A million blocks';
  const make = el('button', { type: 'button', class: 'million-make' }, 'Make the pool (64 MiB)');
  const freeSome = el('button', { type: 'button', disabled: true }, 'Free 100,000 at random');
  const allocSome = el('button', { type: 'button', disabled: true }, 'Allocate 1,000');
  const batch = el('button', { type: 'button', class: 'million-batch', disabled: true }, 'Free 5,000 and allocate 5,000');
  const zoomOut = el('button', { type: 'button', 'aria-label': `${title}: zoom out`, disabled: true }, '−');
  const zoomIn = el('button', { type: 'button', 'aria-label': `${title}: zoom in`, disabled: true }, '+');
  const zoomLabel = el('span', { class: 'zoom-label' }, 'whole pool');
  const steps = timeline(title, 'million', (k) => goTo(k));
  const canvas = el('canvas', { class: 'million-map', tabindex: 0, role: 'img', height: 420,
    'aria-label': `${title}: the pool's blocks, once it is made` });
  const caption = el('figcaption', { class: 'caption', 'aria-live': 'polite' },
    'Press "Make the pool": 1,048,576 blocks of 64 bytes, of which 700,000 are then allocated and 300,000 of those freed at random.');
  const counters = el('dl', { class: 'figure-counters million-counters' });
  const figure = el('figure', { class: 'live-figure million-figure', id: 'figure-million', 'data-figure': 'million',
    tabindex: -1, 'aria-label': title },
  el('p', { class: 'figure-title', 'aria-hidden': 'true' }, title),
  el('div', { class: 'million-controls', role: 'group', 'aria-label': `${title}: calls` }, make, freeSome, allocSome, batch),
  steps.bar, steps.calls,
  el('div', { class: 'million-controls', role: 'group', 'aria-label': `${title}: view` }, zoomOut, zoomLabel, zoomIn),
  caption, canvas,
  el('ul', { class: 'byte-key million-key', 'aria-label': 'Key to the colours' },
    [['never used', 0], ['free', 1], ['in use', 2], ['handed out by the last batch', 3]].map(([text, i]) =>
      el('li', {}, el('span', { class: 'swatch', style: `background: rgb(${RGBA[i].join(',')})`, 'aria-hidden': 'true' }), ` ${text}`))),
  counters);

  const view = { zoom: 0, centerX: IMAGE_WIDTH / 2, centerY: 0 };
  let map = null;

  // The timeline: step k is the pool made afresh (the same 700,000 allocations and 300,000
  // random frees) and the first k batches replayed on it, each with the seed it ran with; a
  // batch chosen at an earlier step replaces the ones after it.
  const history = [];
  let step = 0;
  let seed = 2;
  const fresh = () => {
    map?.pool.destroy(); // its 65 MiB go back to be reused by the next pool
    map = new MillionMap(wasm, canvas);
    map.pool.allocMany(700000);
    map.pool.freeRandom(300000, 1);
    step = 0;
  };
  const goTo = (k) => {
    const to = Math.max(0, Math.min(history.length, Number.isInteger(k) ? k : 0));
    if (!map || to < step) fresh();
    while (step < to) history[step++].apply(map);
    figure.dataset.step = String(step);
    steps.show(step, history.length, (i) => history[i].text,
      { start: 'the pool made: 700,000 allocations, then 300,000 random frees', end: 'a batch of your choice' });
    redraw();
  };
  const act = (text, apply) => () => {
    history.length = step;
    history.push({ text, apply });
    goTo(step + 1);
  };
  const redraw = () => {
    const started = performance.now();
    map.draw(view);
    const ms = performance.now() - started;
    figure.dataset.redrawMs = ms.toFixed(2);
    describe(map, ms, caption, counters);
    zoomLabel.textContent = view.zoom === 0 ? 'whole pool' : `${view.zoom} px per block`;
    zoomOut.disabled = view.zoom === 0;
    zoomIn.disabled = view.zoom === ZOOMS.at(-1);
  };
  make.addEventListener('click', () => {
    make.disabled = true;
    fresh();
    view.centerY = map.imageHeight / 2;
    for (const button of [freeSome, allocSome, batch, zoomIn]) button.disabled = false;
    goTo(0);
    figure.dataset.ready = 'true';
  });
  freeSome.addEventListener('click', () => {
    const s = seed++;
    act('free 100,000 at random', (m) => m.freeRandom(100000, s))();
  });
  allocSome.addEventListener('click', act('allocate 1,000', (m) => { m.alloc(1000); follow(m); }));
  batch.addEventListener('click', () => {
    const s = seed++;
    act('free 5,000 at random, allocate 5,000', (m) => { m.freeRandom(5000, s); m.alloc(5000); })();
  });
  /** Puts the last batch's first block in the middle of the view. */
  const follow = (m = map) => {
    const first = m.lastBatch[0];
    if (first === undefined) return;
    const { x, y } = m.pixelOf((first - m.pool.blocksStart) / BLOCK_SIZE);
    view.centerX = x;
    view.centerY = y;
  };
  const zoomBy = (delta) => {
    const i = Math.max(0, Math.min(ZOOMS.length - 1, ZOOMS.indexOf(view.zoom) + delta));
    if (view.zoom === 0 && i > 0) follow();
    view.zoom = ZOOMS[i];
    redraw();
  };
  zoomIn.addEventListener('click', () => zoomBy(1));
  zoomOut.addEventListener('click', () => zoomBy(-1));
  canvas.addEventListener('click', (event) => {
    if (!map) return;
    const box = canvas.getBoundingClientRect();
    const { x, y } = map.imagePoint(view, event.clientX - box.left, event.clientY - box.top);
    view.centerX = x;
    view.centerY = y;
    zoomBy(1);
  });
  canvas.addEventListener('keydown', (event) => {
    if (!map) return;
    const step = view.zoom === 0 ? 64 : Math.max(1, Math.round(64 / view.zoom));
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key === '+' || event.key === '=') zoomBy(1);
    else if (event.key === '-') zoomBy(-1);
    else if (moves[event.key] && view.zoom > 0) {
      view.centerX += moves[event.key][0];
      view.centerY += moves[event.key][1];
      redraw();
    } else return;
    event.preventDefault();
  });
  new ResizeObserver(() => map && redraw()).observe(canvas);
  return figure;
}

/** The pool and its heat map: an image with a pixel per block, drawn from the state bytes. */
class MillionMap {
  constructor(wasm, canvas) {
    this.wasm = wasm;
    this.canvas = canvas;
    this.pool = new wasm.Pool(BLOCK_SIZE, BLOCK_COUNT);
    // Chunks are 16 KiB-aligned memory: the first block may start partway into one.
    this.firstSlot = (this.pool.blocksStart % (PER_CHUNK * BLOCK_SIZE)) / BLOCK_SIZE;
    this.chunks = Math.ceil((this.firstSlot + BLOCK_COUNT) / PER_CHUNK);
    this.imageHeight = Math.ceil(this.chunks / TILES_PER_ROW) * TILE;
    this.image = new ImageData(IMAGE_WIDTH, this.imageHeight);
    this.pixels = new Uint32Array(this.image.data.buffer);
    this.colours = RGBA.map(([r, g, b]) => new Uint32Array(new Uint8Array([r, g, b, 255]).buffer)[0]);
    this.offscreen = document.createElement('canvas');
    this.offscreen.width = IMAGE_WIDTH;
    this.offscreen.height = this.imageHeight;
    this.marked = new Uint8Array(BLOCK_COUNT);
    this.lastBatch = new Uint32Array(0);
    this.listOrder = null;
  }

  alloc(count) {
    this.marked.fill(0);
    this.lastBatch = this.pool.allocMany(count);
    for (const address of this.lastBatch) this.marked[(address - this.pool.blocksStart) / BLOCK_SIZE] = 1;
    this.listOrder = null;
  }

  freeRandom(count, seed) {
    this.marked.fill(0);
    this.lastBatch = new Uint32Array(0);
    this.pool.freeRandom(count, seed);
    this.listOrder = null;
  }

  /** Where block `index` is in the image. */
  pixelOf(index) {
    const slot = this.firstSlot + index;
    const chunk = Math.floor(slot / PER_CHUNK);
    const within = slot % PER_CHUNK;
    return {
      x: (chunk % TILES_PER_ROW) * TILE + (within % TILE),
      y: Math.floor(chunk / TILES_PER_ROW) * TILE + Math.floor(within / TILE),
    };
  }

  /** The block index at image pixel (x, y), or -1. */
  indexAt(x, y) {
    const chunk = Math.floor(y / TILE) * TILES_PER_ROW + Math.floor(x / TILE);
    const index = chunk * PER_CHUNK + (y % TILE) * TILE + (x % TILE) - this.firstSlot;
    return index >= 0 && index < BLOCK_COUNT ? index : -1;
  }

  /** The image pixel under canvas point (px, py) (CSS pixels). */
  imagePoint(view, px, py) {
    const { scale, left, top } = this.frame(view);
    return { x: Math.floor(left + px / scale), y: Math.floor(top + py / scale) };
  }

  /** CSS pixels per image pixel, and the image's first visible pixel. */
  frame(view) {
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    const scale = view.zoom || Math.min(width / IMAGE_WIDTH, height / this.imageHeight);
    const shownX = width / scale;
    const shownY = height / scale;
    const clamp = (center, shown, size) => (shown >= size ? (size - shown) / 2 : Math.max(0, Math.min(size - shown, center - shown / 2)));
    return { scale, width, height, left: clamp(view.centerX, shownX, IMAGE_WIDTH), top: clamp(view.centerY, shownY, this.imageHeight) };
  }

  /** Counts, and the image from the state bytes: the part of a redraw that scans all blocks. */
  paint() {
    const pool = this.pool;
    const states = new Uint8Array(this.wasm.wasmMemory().buffer, pool.statesAddress, BLOCK_COUNT);
    const { pixels, colours, marked } = this;
    const counts = [0, 0, 0];
    let slot = this.firstSlot;
    for (let index = 0; index < BLOCK_COUNT; index++, slot++) {
      const state = states[index];
      counts[state] += 1;
      const chunk = slot >> 8;
      const within = slot & 255;
      const pixel = (((chunk >> 6) << 4) + (within >> 4)) * IMAGE_WIDTH + ((chunk & 63) << 4) + (within & 15);
      pixels[pixel] = colours[marked[index] ? 3 : state];
    }
    this.counts = counts;
    this.offscreen.getContext('2d').putImageData(this.image, 0, 0);
  }

  /** Redraws the map: the image scaled into the canvas, chunk borders, at close zoom the blocks. */
  draw(view) {
    this.paint();
    const ratio = devicePixelRatio;
    const frame = this.frame(view);
    const { scale, width, height, left, top } = frame;
    if (this.canvas.width !== Math.round(width * ratio)) this.canvas.width = Math.round(width * ratio);
    if (this.canvas.height !== Math.round(height * ratio)) this.canvas.height = Math.round(height * ratio);
    const context = this.canvas.getContext('2d');
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, width, height);
    // Below 1 px per block, let the browser average the blocks: a heat map of the states.
    context.imageSmoothingEnabled = scale < 1;
    const shownX = Math.min(IMAGE_WIDTH, width / scale);
    const shownY = Math.min(this.imageHeight, height / scale);
    const dx = left < 0 ? -left * scale : 0;
    const dy = top < 0 ? -top * scale : 0;
    context.drawImage(this.offscreen, Math.max(0, left), Math.max(0, top), shownX, shownY, dx, dy, shownX * scale, shownY * scale);
    // Chunk borders once a tile is large enough to see.
    const tile = TILE * scale;
    if (tile >= 12) {
      context.strokeStyle = 'rgba(17, 24, 39, 0.55)';
      context.lineWidth = 1;
      context.beginPath();
      const x0 = Math.max(0, left);
      const y0 = Math.max(0, top);
      for (let x = Math.ceil(x0 / TILE) * TILE; x <= x0 + shownX; x += TILE) {
        context.moveTo(dx + (x - x0) * scale + 0.5, dy);
        context.lineTo(dx + (x - x0) * scale + 0.5, dy + shownY * scale);
      }
      for (let y = Math.ceil(y0 / TILE) * TILE; y <= y0 + shownY; y += TILE) {
        context.moveTo(dx, dy + (y - y0) * scale + 0.5);
        context.lineTo(dx + shownX * scale, dy + (y - y0) * scale + 0.5);
      }
      context.stroke();
    }
    if (scale >= 16) this.drawFreeLists(context, frame, Math.max(0, left), Math.max(0, top), shownX, shownY, dx, dy);
  }

  /** At close zoom: each free block's place in its own chunk's free list (1 = handed out first). */
  drawFreeLists(context, frame, x0, y0, shownX, shownY, dx, dy) {
    if (!this.listOrder) {
      // Each chunk's blocks are on its own list (the current chunk's on the list alloc pops):
      // counting along the whole free list, per chunk, gives each block's place in its list.
      const order = new Uint32Array(BLOCK_COUNT);
      const seen = new Uint32Array(this.chunks);
      for (const index of this.pool.freeList()) {
        const chunk = (this.firstSlot + index) >> 8;
        seen[chunk] += 1;
        order[index] = seen[chunk];
      }
      this.listOrder = order;
    }
    const { scale } = frame;
    context.font = `${Math.min(12, scale * 0.45)}px ui-monospace, monospace`;
    context.textAlign = 'center';
    context.textBaseline = 'middle';
    context.fillStyle = '#06324f';
    for (let y = Math.floor(y0); y < y0 + shownY; y++) {
      for (let x = Math.floor(x0); x < x0 + shownX; x++) {
        const index = this.indexAt(x, y);
        if (index < 0 || !this.listOrder[index]) continue;
        context.fillText(String(this.listOrder[index]), dx + (x - x0 + 0.5) * scale, dy + (y - y0 + 0.5) * scale);
      }
    }
  }

  /** How many chunks the last batch's blocks lie in. */
  batchSpread() {
    const batch = this.lastBatch;
    if (batch.length === 0) return null;
    const chunks = new Set();
    for (const address of batch) chunks.add(Math.floor(address / (PER_CHUNK * BLOCK_SIZE)));
    return { blocks: batch.length, chunks: chunks.size };
  }
}

function describe(map, ms, caption, counters) {
  const [never, free, used] = map.counts;
  const spread = map.batchSpread();
  caption.textContent = `${BLOCK_COUNT.toLocaleString('en-US')} blocks in ${map.chunks.toLocaleString('en-US')} chunks of 16 KiB: ` +
    `${used.toLocaleString('en-US')} in use, ${free.toLocaleString('en-US')} free, ${never.toLocaleString('en-US')} never used. ` +
    (spread ? `The last batch handed out ${spread.blocks.toLocaleString('en-US')} blocks, and they lie in ${plural(spread.chunks, 'chunk')}, ` +
      `${Math.round(spread.blocks / spread.chunks)} neighbours to a chunk on average, although the free blocks were scattered ` +
      'over the whole pool: alloc empties one chunk\'s free list before it takes the next. ' : '') +
    `Redrawn from the state bytes in ${ms.toFixed(1)} ms.`;
  const rows = [
    ['in-use', 'in use', used], ['free', 'free', free], ['never-used', 'never used', never],
    ['chunks', 'chunks', map.chunks],
    ['batch-chunks', 'chunks the last batch used', spread ? spread.chunks : '—'],
    ['redraw-ms', 'redraw (ms)', ms.toFixed(1)],
  ];
  counters.replaceChildren(...rows.map(([name, term, value]) => el('div', { class: 'counter' },
    el('dt', {}, term), el('dd', { 'data-counter': name }, typeof value === 'number' ? value.toLocaleString('en-US') : value))));
}
