// Runs the wasm workloads of each allocator's module under node and prints JSON: ns per
// alloc+free and the size of each alloc/free-only module.
//
// Timing: every module is instantiated first, then the measurements go round by round, every
// allocator once per round, keeping each one's fastest round. The machine is shared and its
// load changes by the second: interleaving gives every allocator the same chances, and the
// minimum is the least disturbed run. Run with `node --no-liftoff` (run.sh does) so that all
// code is V8's optimising tier, the one a hot page runs in.
//
// Where V8 happens to place a module's code differs from one process to the next, and so,
// by up to 2.5× for the same module and block size, do its timings (seen for the pool and
// for dlmalloc alike; within a process, every round agrees). So the rounds run in PROCESSES
// separate node processes, one after the other, and each figure is the fastest over all of
// them; `spread` keeps every process's own fastest, to show how far they were apart.
//
// Usage: node --no-liftoff run.mjs DIR_OF_MODULES
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = process.argv[2];
const PROCESSES = 3;

if (process.argv[3] !== "--one-process") {
  const runs = [];
  for (let i = 0; i < PROCESSES; i++) {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), dir, "--one-process"];
    runs.push(JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8" })));
  }
  const merged = { ...runs[0], processes: PROCESSES, ns: {}, spread: {} };
  for (const cell of Object.keys(runs[0].ns)) {
    merged.ns[cell] = {};
    merged.spread[cell] = {};
    for (const workload of Object.keys(runs[0].ns[cell])) {
      const each = runs.map((run) => run.ns[cell][workload]);
      merged.ns[cell][workload] = Math.min(...each);
      merged.spread[cell][workload] = each;
    }
  }
  console.log(JSON.stringify(merged, null, 2));
  process.exit(0);
}
const allocators = ["pool", "dlmalloc", "talc", "lol_alloc", "bare_list"];
const blockSizes = [16, 64, 4096];
const BATCH = 10_000;
const ROUNDS = 15;
const PAIRS = 1_000_000;
const BATCHES = 10;

function leb(bytes, offset) {
  let value = 0, shift = 0, byte;
  do { byte = bytes[offset++]; value += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
  return [value, offset];
}

// The module's size, and the code size of named functions (from the `name` section).
function sizes(bytes) {
  let offset = 8, custom = 0, imported = 0;
  const bodies = [], names = new Map();
  while (offset < bytes.length) {
    const id = bytes[offset];
    let [size, start] = leb(bytes, offset + 1);
    const end = start + size;
    if (id === 0) {
      custom += end - offset;
      let [nameLength, at] = leb(bytes, start);
      const name = new TextDecoder().decode(bytes.subarray(at, at + nameLength));
      at += nameLength;
      while (name === "name" && at < end) {
        const kind = bytes[at];
        let [length, body] = leb(bytes, at + 1);
        if (kind === 1) {
          let [count, p] = leb(bytes, body);
          for (let i = 0; i < count; i++) {
            let index, len;
            [index, p] = leb(bytes, p);
            [len, p] = leb(bytes, p);
            names.set(index, new TextDecoder().decode(bytes.subarray(p, p + len)));
            p += len;
          }
        }
        at = body + length;
      }
    } else if (id === 2) {
      let [count, p] = leb(bytes, start);
      for (let i = 0; i < count; i++) {
        for (let s = 0; s < 2; s++) { let len; [len, p] = leb(bytes, p); p += len; }
        const kind = bytes[p++];
        if (kind === 0) { imported++; [, p] = leb(bytes, p); } else throw new Error("non-function import");
      }
    } else if (id === 10) {
      let [count, p] = leb(bytes, start);
      for (let i = 0; i < count; i++) {
        let len;
        [len, p] = leb(bytes, p);
        bodies.push(len);
        p += len;
      }
    }
    offset = end;
  }
  const functions = {};
  bodies.forEach((len, i) => { functions[names.get(i + imported) ?? `#${i + imported}`] = len; });
  return { file: bytes.length, stripped: bytes.length - custom, functions };
}

async function load(path) {
  const module = await WebAssembly.compile(readFileSync(path));
  const imports = {};
  for (const { module: m, name } of WebAssembly.Module.imports(module)) {
    imports[m] ??= {};
    imports[m][name] = () => { throw new Error(`${m}.${name} called`); };
  }
  return (await WebAssembly.instantiate(module, imports)).exports;
}

function time(perRun, body) {
  const start = process.hrtime.bigint();
  const failures = body();
  const ns = Number(process.hrtime.bigint() - start);
  if (failures !== 0) throw new Error(`${failures} failed operations`);
  return ns / perRun;
}

const modules = {};
for (const allocator of allocators) {
  modules[allocator] = await load(join(dir, `${allocator}-workloads.wasm`));
}
const results = { node: process.version, flags: process.execArgv, ns: {}, size: {} };
for (const blockSize of blockSizes) {
  const rows = {};
  for (const allocator of allocators) {
    const ex = modules[allocator];
    if (ex.setup(blockSize) !== 1) throw new Error(`${allocator}: setup(${blockSize}) failed`);
    ex.pair(PAIRS); // warm up the allocator's memory
    rows[allocator] = { pair: Infinity, reverse: Infinity, random: Infinity };
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const allocator of allocators) {
      const ex = modules[allocator], row = rows[allocator];
      ex.setup(blockSize);
      row.pair = Math.min(row.pair, time(PAIRS, () => ex.pair(PAIRS)));
      for (const [workload, random] of [["reverse", 0], ["random", 1]]) {
        // Every workload starts on a fresh pool, as in the native suite (where each workload
        // group creates its own): a free list is a stack, and the last frees' order stays in
        // it, so a last-first batch right after a random one would still be a random one.
        // (The peers keep their heap; `setup` only sets their block size.) Then one untimed
        // batch, so the timed ones run in this workload's steady state.
        ex.setup(blockSize);
        ex.set_order(random);
        ex.batch(1);
        row[workload] = Math.min(row[workload], time(BATCHES * BATCH, () => ex.batch(BATCHES)));
      }
    }
  }
  for (const allocator of allocators) results.ns[`${allocator}-${blockSize}`] = rows[allocator];
}
for (const allocator of allocators) {
  const { file, stripped, functions } = sizes(readFileSync(join(dir, `${allocator}-size.wasm`)));
  results.size[allocator] = { file, stripped };
  if (allocator === "pool") {
    const pick = (test) => Object.entries(functions).filter(([name]) => test(name))
      .reduce((sum, [, len]) => sum + len, 0);
    // The exports carry alloc and free with every check inlined; `alloc_slow` is the rest of
    // alloc (the next chunk's list, never-used blocks); the cold paths explain a refused free
    // (`refuse`) and drop a damaged free list (`drop_damaged_list`).
    results.size.pool_core = {
      hot: pick((n) => n === "alloc_block" || n === "free_block"),
      slow: pick((n) => n.includes("alloc_slow")),
      cold: pick((n) => n.includes("refuse") || n.includes("drop_damaged_list")),
      functions,
    };
  }
}
console.log(JSON.stringify(results, null, 2));
