// Runs talc's random-actions workload in each allocator's module under node and prints a
// table: actions per microsecond with and without realloc, the linear memory each run ended
// with, the module's size, and each figure over talc's.
//
// As talc's wasm-perf: 1 warm-up iteration, then 100 timed ones of 100 000 actions, the
// figure being actions / µs over the timed ones. Every (allocator, with or without realloc)
// run gets a fresh instance, so its linear memory at the end (memory.buffer.byteLength:
// linear memory never shrinks, so it is the run's peak) is its own; all use the same seed.
//
// Where V8 places a module's code differs from one process to the next, and so do timings
// (see ../run.mjs): the runs repeat in PROCESSES node processes, allocators interleaved within
// each, and the speed kept is each one's fastest. Run with `node --no-liftoff` (run.sh does).
//
// Usage: [SEED=n] [PROCESSES=n] node --no-liftoff run.mjs DIR_OF_MODULES [ALLOCATOR...]
// (PROCESSES: how many node processes, 3 by default; more give steadier best figures)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PROCESSES = Number(process.env.PROCESSES ?? 3);
if (!Number.isInteger(PROCESSES) || PROCESSES < 1) {
  throw new Error(`PROCESSES=${process.env.PROCESSES}: a whole number of node processes, 1 or more`);
}
const ACTIONS = 100_000;
const ITERATIONS = 100;
// The same seed for every allocator; SEED=n in the environment for another sequence.
const SEED = Number(process.env.SEED ?? 0x5eed);
const modes = { realloc: 1, plain: 0 };
const [dir, ...rest] = process.argv.slice(2);
const oneProcess = rest[0] === "--one-process";
const allocators = (oneProcess ? rest.slice(1) : rest).length
  ? (oneProcess ? rest.slice(1) : rest)
  : ["size_classes", "talc", "dlmalloc", "rlsf", "lol_alloc"];

async function instance(allocator) {
  const module = await WebAssembly.compile(readFileSync(join(dir, `${allocator}.wasm`)));
  const imports = {};
  for (const { module: m, name } of WebAssembly.Module.imports(module)) {
    imports[m] ??= {};
    imports[m][name] = () => { throw new Error(`${m}.${name} called`); };
  }
  return (await WebAssembly.instantiate(module, imports)).exports;
}

function leb(bytes, offset) {
  let value = 0, shift = 0, byte;
  do { byte = bytes[offset++]; value += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
  return [value, offset];
}

/** The module's bytes without its custom sections (names, producers): what it costs to ship. */
function stripped(bytes) {
  let offset = 8, custom = 0;
  while (offset < bytes.length) {
    const [size, start] = leb(bytes, offset + 1);
    if (bytes[offset] === 0) custom += start + size - offset;
    offset = start + size;
  }
  return bytes.length - custom;
}

if (oneProcess) {
  const result = {};
  for (const allocator of allocators) result[allocator] = { speed: {}, memory: {} };
  for (const [mode, withRealloc] of Object.entries(modes)) {
    for (const allocator of allocators) {
      const ex = await instance(allocator);
      ex.seed(SEED);
      if (ex.iterations(1, ACTIONS, withRealloc) !== 0) throw new Error(`${allocator}: out of memory`);
      const start = process.hrtime.bigint();
      const failed = ex.iterations(ITERATIONS, ACTIONS, withRealloc);
      const ns = Number(process.hrtime.bigint() - start);
      if (failed !== 0) throw new Error(`${allocator}: out of memory`);
      result[allocator].speed[mode] = (ACTIONS * ITERATIONS) / (ns / 1000);
      result[allocator].memory[mode] = ex.memory.buffer.byteLength;
    }
  }
  console.log(JSON.stringify(result));
  process.exit(0);
}

const runs = [];
for (let i = 0; i < PROCESSES; i++) {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), dir, "--one-process", ...allocators];
  runs.push(JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8" })));
}
const rows = {};
for (const allocator of allocators) {
  const bytes = readFileSync(join(dir, `${allocator}.wasm`));
  rows[allocator] = { module: bytes.length, stripped: stripped(bytes), speed: {}, spread: {}, memory: {} };
  for (const mode of Object.keys(modes)) {
    const each = runs.map((run) => run[allocator].speed[mode]);
    rows[allocator].speed[mode] = Math.max(...each);
    rows[allocator].spread[mode] = each.map((x) => +x.toFixed(1));
    rows[allocator].memory[mode] = runs[0][allocator].memory[mode];
  }
}

const base = rows.talc;
const ratio = (value, of) => (base ? ` (${(value / of).toFixed(2)}×)` : "");
const kib = (bytes) => `${(bytes / 1024).toLocaleString("en")} KiB`;
const lines = [
  "| allocator | actions/µs with realloc | without | linear memory with realloc | without | module (stripped) |",
  "|---|---|---|---|---|---|",
];
for (const [allocator, row] of Object.entries(rows)) {
  lines.push(`| ${allocator} | ${row.speed.realloc.toFixed(1)}${ratio(row.speed.realloc, base?.speed.realloc)}` +
    ` | ${row.speed.plain.toFixed(1)}${ratio(row.speed.plain, base?.speed.plain)}` +
    ` | ${kib(row.memory.realloc)}${ratio(row.memory.realloc, base?.memory.realloc)}` +
    ` | ${kib(row.memory.plain)}${ratio(row.memory.plain, base?.memory.plain)}` +
    ` | ${row.module} B (${row.stripped} B)${ratio(row.stripped, base?.stripped)} |`);
}
const table = lines.join("\n");
console.error(table);
console.log(JSON.stringify({ node: process.version, flags: process.execArgv, processes: PROCESSES,
  actions: ACTIONS, iterations: ITERATIONS, seed: SEED, rows, table }, null, 2));
