// What a figure runs its calls on: a real Pool or Heap from the wasm module, behind the few
// operations a figure needs. Each subject owns one allocator instance, makes it fresh for a
// replay, names every byte of its region (so a changed byte can be explained), counts what
// it has done, and draws its map. Everything drawn is read from the allocator or from its
// bytes in linear memory; nothing is simulated here.

import { el, hex, byteHex, plural, refusedFrees, svg } from './format.js';
import { markChangedBlocks, drawPool, blockStateNames, STATE_NAMES } from './map.js';

const word = (bytes, offset) =>
  (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;

/** A `Pool` of `blockCount` blocks of `blockSize` bytes. */
export class PoolSubject {
  constructor(wasm, blockSize, blockCount) {
    this.wasm = wasm;
    this.blockSize = blockSize;
    this.blockCount = blockCount;
    this.pool = null;
  }

  get kind() { return 'pool'; }

  /** Replaces the pool with a new, empty one (its region is reused, so addresses repeat). */
  fresh() {
    this.pool?.destroy();
    this.pool = new this.wasm.Pool(this.blockSize, this.blockCount);
    /** Block index → the bytes its program asked for. */
    this.requested = new Map();
    this.leaks = null;
  }

  alloc(size) {
    const blockSize = this.pool.blockSize;
    if (size !== undefined && (size < 1 || size > blockSize)) {
      throw new Error(`a pool of ${blockSize}-byte blocks serves requests of 1 to ${blockSize} bytes, not ${size}`);
    }
    const address = this.pool.alloc();
    if (address !== undefined) this.requested.set(this.pool.indexOf(address), size ?? blockSize);
    return address;
  }

  free(address) {
    this.pool.free(address);
    this.requested.delete(this.pool.indexOf(address));
  }

  end() {
    const states = this.pool.blockStates();
    this.leaks = [...states.keys()].filter((index) => states[index] === 2);
    return `${plural(this.leaks.length, 'block')} still in use: ${this.leaks.length * this.pool.blockSize} bytes leaked`;
  }

  /** The region's bytes a figure shows: the metadata, then every block. */
  region() {
    const pool = this.pool;
    return { base: pool.regionBase, length: pool.addressOf(pool.blockCount - 1) + pool.blockSize - pool.regionBase };
  }

  /** Which block alloc() hands out next, and why (for predict-then-check). */
  nextAlloc() {
    // Read from the pool itself: the head of its free list, else its count of blocks handed out.
    const head = this.pool.freeList()[0];
    if (head !== undefined) {
      return { index: head, why: `block ${head} is the head of the free list (the block freed most recently), and alloc pops the head before it touches any never-used block.` };
    }
    const next = this.pool.nextNeverUsed;
    if (next >= this.pool.blockCount) return { index: undefined, why: 'every block is in use, so alloc returns nothing.' };
    return { index: next, why: `the free list is empty, so alloc takes the next never-used block, in address order: block ${next}.` };
  }

  /** The question before an alloc, for predict-then-check. */
  question() {
    return 'Have a think: which block will alloc() hand out now? Click it (or press ▶ to just see).';
  }

  /** The block an alloc() that returned `address` handed out (undefined for null). */
  servedBy(address) {
    return address === undefined ? undefined : this.pool.indexOf(address);
  }

  /** What byte `address` of the region is: `{ kind, index, offset }`. */
  byteAt(address) {
    const pool = this.pool;
    if (address < pool.statesAddress) return { kind: 'meta' };
    if (address < pool.blocksStart) {
      const index = address - pool.statesAddress;
      return index < pool.blockCount ? { kind: 'state', index } : { kind: 'meta' };
    }
    const offset = address - pool.blocksStart;
    const index = Math.floor(offset / pool.blockSize);
    const within = offset % pool.blockSize;
    // Asked for every byte of the hex view: read the states and links once per change.
    if (this.memo?.pool !== pool || this.memo.changes !== pool.totalAllocs + pool.totalFrees) {
      const states = pool.blockStates();
      this.memo = {
        pool, changes: pool.totalAllocs + pool.totalFrees, states,
        links: [...states].map((state, i) => (state === 1 ? pool.linkAddress(i) - pool.addressOf(i) : -1)),
      };
    }
    const state = this.memo.states[index];
    const link = this.memo.links[index];
    const kind = link >= 0 && within >= link && within < link + 4 ? 'link' : state === 2 ? 'data' : 'block';
    return { kind, index, offset: within };
  }

  /** What a link word holds, in words: `block 2 (0x…)`, or the end mark. */
  linkName(value) {
    const pool = this.pool;
    if (value % 2 === 1) return `the end mark ${hex(value)} (odd, never a block: the list ends here)`;
    const offset = value - pool.blocksStart;
    if (offset >= 0 && offset % pool.blockSize === 0 && offset / pool.blockSize < pool.blockCount) {
      return `block ${offset / pool.blockSize}'s address (${hex(value)})`;
    }
    return hex(value);
  }

  /** One sentence per changed run of bytes, saying what those bytes are and now mean. */
  describeRun(run, before, after, base) {
    const where = this.byteAt(run.start);
    const at = run.start - base;
    const align = (offset) => offset - (offset % 4);
    if (where.kind === 'state') {
      return [...Array(run.length).keys()].map((i) =>
        `state byte ${where.index + i}: ${byteHex(before[at + i])} → ${byteHex(after[at + i])} ` +
        `(${STATE_NAMES[after[at + i]] ?? 'damaged'})`).join('; ');
    }
    if (where.kind === 'meta') {
      const w = align(at);
      return `the free list's head, in the metadata at ${hex(base + w)}: now ${this.linkName(word(after, w))}`;
    }
    if (where.kind === 'link') {
      const linkAt = this.pool.linkAddress(where.index) - base;
      const first = where.offset < 4 ? 'first 4 bytes' : `4 bytes at offset ${where.offset - (where.offset % 4)}`;
      return `block ${where.index}'s ${first} (its free-list link): now ${this.linkName(word(after, linkAt))}`;
    }
    return `block ${where.index}, ${plural(run.length, 'byte')} from offset ${where.offset}`;
  }

  counters() {
    const pool = this.pool;
    const rejected = refusedFrees(pool);
    const rows = [
      ['in-use', 'in use', pool.inUse],
      ['free', 'on the free list', pool.freeList().length],
      ['never-used', 'never used', pool.blockCount - pool.nextNeverUsed],
      ['allocs', 'allocations', pool.totalAllocs],
      ['frees', 'frees', pool.totalFrees],
      ['rejected', 'refused frees', rejected],
      ['header-bytes', 'header bytes', 0],
      ['searched', 'blocks searched', 0],
    ];
    if (this.leaks) rows.push(['leaks', 'leaked', `${plural(this.leaks.length, 'block')}`]);
    return rows;
  }

  /** The map: the state bytes, then the blocks, each a button (for predict-then-check). */
  draw(container, { labels, asking }) {
    const pool = this.pool;
    const { stateBytes, blocks } = drawPool(pool, this.wasm.wasmMemory(), {
      names: labels, leaks: this.leaks, hint: asking ? ' Pick this block.' : '', disabled: !asking,
    });
    container.replaceChildren(
      el('p', { class: 'meta-title' }, el('strong', {}, 'state bytes'), ` at ${hex(pool.statesAddress)}, just below the blocks`),
      stateBytes,
      el('div', { class: 'block-area' }, blocks, svg('svg', { class: 'links', 'aria-hidden': 'true' })));
    markChangedBlocks(container, [...blocks.querySelectorAll('button.block')], blockStateNames(pool));
  }
}

/** A `Heap` of `size` bytes, headers included. */
export class HeapSubject {
  constructor(wasm, size) {
    this.wasm = wasm;
    this.size = size;
    this.heap = null;
  }

  get kind() { return 'heap'; }

  fresh() {
    this.heap?.destroy();
    this.heap = new this.wasm.Heap(this.size);
    this.leaks = null;
    /** Payload address → bytes requested. */
    this.requested = new Map();
  }

  alloc(size) {
    if (size === undefined) throw new Error('a heap needs to know how many bytes: write alloc(24)');
    const address = this.heap.alloc(size);
    if (address !== undefined) this.requested.set(address, size);
    return address;
  }

  free(address) {
    this.heap.free(address);
    this.requested.delete(address);
  }

  end() {
    this.leaks = this.blocks().filter((block) => block.used).map((block) => block.address);
    const bytes = this.blocks().filter((block) => block.used).reduce((n, block) => n + block.size, 0);
    return `${plural(this.leaks.length, 'block')} still in use: ${bytes} bytes (headers included) leaked`;
  }

  /** Every block in address order: `{ address, size, used }` (the address of its header). */
  blocks() {
    const flat = this.heap.blocks();
    const blocks = [];
    for (let i = 0; i < flat.length; i += 3) blocks.push({ address: flat[i], size: flat[i + 1], used: flat[i + 2] === 1 });
    return blocks;
  }

  region() {
    return { base: this.heap.start, length: this.heap.size };
  }

  /** The question before an alloc, for predict-then-check. */
  question(call) {
    return `Have a think: which block will alloc(${call?.size ?? ''}) take its bytes from? Click it (or press ▶ to just see).`;
  }

  /** Which block alloc(size) will cut its block from, and why (for predict-then-check). */
  nextAlloc(call) {
    const size = call?.size ?? 0;
    // The heap's own rule (Heap::block_size_for): whole 4-byte words, plus the header.
    const needed = Math.max(Math.ceil(Math.max(size, 1) / 4) * 4 + 4, 8);
    const blocks = this.blocks();
    const holes = blocks.map((block, index) => ({ ...block, index })).filter((block) => !block.used);
    const fit = holes.find((hole) => hole.size >= needed);
    const passed = holes.filter((hole) => fit === undefined || hole.index < fit.index);
    const tooSmall = passed.length
      ? ` The free ${passed.length === 1 ? 'block' : 'blocks'} before it (${passed.map((hole) => `${hole.size} B`).join(', ')}) ${passed.length === 1 ? 'is' : 'are'} too small.`
      : '';
    if (!fit) {
      return { blocks, index: undefined, why: `alloc(${size}) needs a free block of ${needed} bytes (${needed - 4} for the object, 4 for its header) and no free block is that large, so it returns null.${tooSmall}` };
    }
    return { blocks, index: fit.index, why: `alloc(${size}) needs ${needed} bytes with its header, and first fit walks the free blocks from the lowest address and takes the first one that large: block ${fit.index} (${fit.size} B).${tooSmall}` };
  }

  /** The block (of the map before the call, `expected.blocks`) an alloc() that returned
   * `address` was cut from. */
  servedBy(address, expected) {
    if (address === undefined) return undefined;
    const index = expected.blocks.findIndex((block) => block.address === address - 4);
    return index === -1 ? undefined : index;
  }

  byteAt(address) {
    // Asked for every byte of the hex view: list the blocks once per change.
    const heap = this.heap;
    const changes = heap.totalAllocs + heap.totalFrees;
    if (this.memo?.heap !== heap || this.memo.changes !== changes) this.memo = { heap, changes, blocks: this.blocks() };
    const block = this.memo.blocks.find((b) => address >= b.address && address < b.address + b.size);
    if (!block) return { kind: 'block' };
    const offset = address - block.address;
    const kind = offset < 4 ? 'header' : !block.used && offset < 8 ? 'link' : block.used ? 'data' : 'block';
    return { kind, block, offset };
  }

  describeRun(run, before, after, base) {
    const where = this.byteAt(run.start);
    if (!where.block) return `${plural(run.length, 'byte')} at ${hex(run.start)}`;
    const at = where.block.address - base;
    const header = word(after, at);
    const size = header & ~1;
    if (where.kind === 'header') {
      return `the header at ${hex(where.block.address)}: ${hex(word(before, at))} → ${hex(header)} ` +
        `(block size ${size} bytes, ${header & 1 ? 'in use' : 'free'})`;
    }
    if (where.kind === 'link') {
      const next = word(after, at + 4);
      return `the free block's first payload word at ${hex(where.block.address + 4)} (its free-list link): ` +
        (next === 0xffffffff ? 'ffffffff, the end of the list' : `the next free block is ${next} bytes from the heap's start`);
    }
    return `${plural(run.length, 'byte')} inside the block at ${hex(where.block.address)}`;
  }

  counters() {
    const heap = this.heap;
    const rows = [
      ['in-use', 'in use', heap.inUse],
      ['free-bytes', 'free bytes', heap.totalFree],
      ['largest', 'largest request that fits', `${heap.largestRequest} B`],
      ['allocs', 'allocations', heap.totalAllocs],
      ['failed', 'failed allocations', heap.failedAllocs],
      ['frees', 'frees', heap.totalFrees],
      ['header-bytes', 'header bytes', heap.headerBytes],
      ['searched', 'blocks searched', heap.blocksSearched],
    ];
    if (this.leaks) rows.push(['leaks', 'leaked', plural(this.leaks.length, 'block')]);
    return rows;
  }

  /** The map: every block in address order, as wide as its bytes, its header drawn apart;
   * a button each, for predict-then-check. */
  draw(container, { labels, asking }) {
    const nameOf = labels;
    const leaks = new Set(this.leaks ?? []);
    const blocks = this.blocks();
    const list = el('ol', { class: 'heap-blocks', 'aria-label': `${plural(blocks.length, 'block')} in address order` });
    for (const [index, block] of blocks.entries()) {
      const payload = block.address + 4;
      const name = nameOf.get(payload);
      const state = leaks.has(block.address) ? 'leaked' : block.used ? 'in use' : 'free';
      const requested = this.requested.get(payload);
      const label = `${block.size}-byte block at ${hex(block.address)}, ${state}` +
        (name ? `, ${name}` : '') + (requested ? `, ${requested} bytes requested` : '');
      list.append(el('li', { class: 'heap-slot', style: `flex-grow:${block.size}` }, el('button', {
        type: 'button', class: `heap-block ${block.used ? 'in-use' : 'free'}${leaks.has(block.address) ? ' leak' : ''}`,
        'data-index': index, 'data-state': state, title: label, disabled: !asking,
      },
      el('span', { class: 'h-header', 'aria-hidden': 'true' }, 'hdr'),
      el('span', { class: 'h-body' },
        el('span', { class: 'h-name' }, name ?? state), el('span', { class: 'h-size' }, `${block.size} B`),
        el('span', { class: 'visually-hidden' }, `, ${label}${asking ? '. Pick this block.' : ''}`)))));
    }
    container.replaceChildren(list);
    // A block is "the same" as before if it has the same address, size and state.
    markChangedBlocks(container, [...list.querySelectorAll('button.heap-block')],
      blocks.map((block) => (block.used ? 'in use' : 'free')), blocks.map((block) => `${block.address}:${block.size}`));
  }
}
