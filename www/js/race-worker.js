// The race, off the page's thread: a Web Worker with its own module (www/pkg-race: the
// boundary built with the `race` feature, so the page's module carries neither `Race` nor
// dlmalloc) and its own linear memory, so the page stays responsive however long an
// allocator takes.
//
// For each allocator and workload it first finds a chunk of work that takes at least
// CHUNK_MS (doubling from one unit), then times chunks of that size with performance.now()
// until the cell's time is spent, and keeps the fastest chunk, as the README's benchmarks
// keep their fastest sample. One call into wasm runs a whole chunk, so the timer and the
// JS-to-wasm call are a small part of what is timed. Between chunks it yields, and it reports
// progress after each one; the page stops it with `terminate()`, which ends it at once.
//
// Message in: { type: 'start', allocators: ['pool', …], workloads: ['pair', 'lifo', 'random'] }.
// Messages out: { type: 'progress', done (0…1), allocator, workload }, { type: 'result',
// allocator, workload, ns, operations, samples }, { type: 'done' }, { type: 'error', message }.

import init, { Race } from '../pkg-race/memory_pool_race.js';

/** Below this a chunk is too short for the worker's coarse timer (100 µs steps, or worse). */
const CHUNK_MS = 12;
/** Each cell's share of the race, once calibrated; at least MIN_SAMPLES chunks are timed. */
const CELL_MS = 250;
const MIN_SAMPLES = 3;

const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Runs `units` units of `workload` on `race`; returns the operations (alloc+free pairs) done. */
function run(race, workload, units) {
  if (workload === 'pair') {
    race.pair(units * 1000);
    return units * 1000;
  }
  race.batch(units, workload === 'random');
  return units * Race.batchSize();
}

async function raceCell(allocator, workload, cell, cells) {
  const race = new Race(allocator);
  const progress = (fraction) => postMessage({
    type: 'progress', done: (cell + Math.min(1, fraction)) / cells, allocator, workload,
  });
  try {
    run(race, workload, 1); // warm-up: the allocator's first memory, wasm tiering up
    let units = 1;
    for (;;) {
      const start = performance.now();
      run(race, workload, units);
      if (performance.now() - start >= CHUNK_MS || units >= 1 << 20) break;
      units *= 2;
      await yieldToEvents();
    }
    let best = Infinity;
    let operations = 0;
    let samples = 0;
    const began = performance.now();
    while (samples < MIN_SAMPLES || performance.now() - began < CELL_MS) {
      const start = performance.now();
      operations = run(race, workload, units);
      const ns = ((performance.now() - start) * 1e6) / operations;
      best = Math.min(best, ns);
      samples += 1;
      progress((performance.now() - began) / CELL_MS);
      await yieldToEvents();
    }
    postMessage({ type: 'result', allocator, workload, ns: best, operations, samples });
  } finally {
    race.destroy();
  }
}

onmessage = async (event) => {
  const { type, allocators, workloads } = event.data ?? {};
  if (type !== 'start') return;
  try {
    await init();
    const cells = allocators.length * workloads.length;
    let cell = 0;
    for (const workload of workloads) {
      for (const allocator of allocators) {
        await raceCell(allocator, workload, cell, cells);
        cell += 1;
      }
    }
    postMessage({ type: 'done' });
  } catch (error) {
    postMessage({ type: 'error', message: error?.message ?? String(error) });
  }
};
