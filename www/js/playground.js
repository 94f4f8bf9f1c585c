// The playground's state: one real Pool in the module's linear memory, and the operations a
// learner performs on it. No drawing here: after every operation the page calls `onChange`,
// and map.js draws what the pool reports.
//
// Every operation that reaches the pool is a step of the playground's timeline, from the
// last "Create pool" on. Going to step k makes a new pool of the same size and replays the
// first k operations on it, so the state shown at step k (map, bytes, counters, message) is
// exactly what it was when step k was first made. A new operation made at an earlier step
// drops the steps after it, as an editor's undo history does. The timeline fits in a link
// (toLink, openLink): the pool's size, its operations and the step, replayed the same way.

import { hex, plural } from './format.js';

/** Sane limits for a pool drawn on one screen. */
export const LIMITS = Object.freeze({
  blockSize: { min: 4, max: 256 },
  blockCount: { min: 1, max: 64 },
});

const IN_USE = 2;

/** The operations a link can carry, by the playground's method names: one letter each. */
const LINK_OPS = Object.freeze({
  alloc: 'a', freeBlock: 'f', write: 'w', misuseDoubleFree: 'd', misuseOutside: 'o', misuseMiddle: 'm', endProgram: 'e',
});
const LINK_METHODS = new Map(Object.entries(LINK_OPS).map(([method, letter]) => [letter, method]));
/** Steps a link may carry (a learner's session rarely has a hundred). */
const LINK_LIMIT = 400;

/** One operation of a link (`a24`, `f1`, `w0_hello`, `d`, …) as `[method, args]`; throws a
 * RangeError for anything else. */
function parseLinkOp(text) {
  const match = /^([afwdome])(?:(\d{1,3})(?:_(.{0,2400}))?)?$/s.exec(text);
  const method = match && LINK_METHODS.get(match[1]);
  const takesNumber = method === 'alloc' || method === 'freeBlock' || method === 'write';
  if (!method || takesNumber !== (match[2] !== undefined) || (method === 'write') !== (match[3] !== undefined)) {
    throw new RangeError(`"${text.slice(0, 20)}" is not one of its operations.`);
  }
  if (method !== 'write') return [method, takesNumber ? [Number(match[2])] : []];
  let value;
  try {
    value = decodeURIComponent(match[3]);
  } catch {
    throw new RangeError(`the text written by "${text.slice(0, 20)}" is not valid.`);
  }
  if (value.length > 256) throw new RangeError('a written text is longer than 256 characters.');
  return [method, [Number(match[2]), value]];
}

export class Playground {
  /** `wasm` is the module's exports: `Pool` and `wasmMemory`. */
  constructor(wasm, onChange) {
    this.wasm = wasm;
    this.onChange = onChange;
    this.pool = null;
    /** Block index → the bytes the program asked for (the rest of the block is wasted). */
    this.requested = new Map();
    /** Block indices still in use when the program ended, or null while it runs. */
    this.leaks = null;
    /** The block shown in the hex view. */
    this.selected = 0;
    /** The last thing that happened, for the message area: {kind, text, detail}. */
    this.message = null;
    /** The timeline: the pool's size, and one `{ method, args, text }` per operation. */
    this.program = null;
    this.steps = [];
    /** The timeline's position: how many of `steps` the pool has run. */
    this.step = 0;
    /** While an operation runs: the calls it made on the pool, as text. */
    this.calling = null;
    this.replaying = false;
    this.quiet = false;
  }

  get memory() {
    return this.wasm.wasmMemory();
  }

  get ended() {
    return this.leaks !== null;
  }

  /** Replaces the pool with a new one, and starts a new timeline. Throws RangeError outside
   * the limits. */
  create(blockSize, blockCount) {
    checkLimit('block size', blockSize, LIMITS.blockSize);
    checkLimit('block count', blockCount, LIMITS.blockCount);
    this.program = { blockSize, blockCount };
    this.steps = [];
    this.step = 0;
    this.newPool();
  }

  newPool() {
    const { blockSize, blockCount } = this.program;
    if (this.pool) {
      this.pool.destroy();
      this.pool = null;
    }
    try {
      this.pool = new this.wasm.Pool(blockSize, blockCount);
    } finally {
      this.requested.clear();
      this.leaks = null;
      this.selected = 0;
    }
    const rounded = this.pool.blockSize !== blockSize
      ? ` (${blockSize} rounded up to ${this.pool.blockSize}, so that a free block can hold the free-list link)`
      : '';
    this.say('ok', `new Pool(${blockSize}, ${blockCount}): ${plural(blockCount, 'block')} of ` +
      `${this.pool.blockSize} bytes${rounded} at ${hex(this.pool.blocksStart)}, after ` +
      `${this.pool.blocksStart - this.pool.regionBase} bytes of metadata. Nothing is touched yet: ` +
      'every block is "never used".');
  }

  /** The call that made the pool, as the timeline shows it before step 1. */
  get creation() {
    return this.program ? `new Pool(${this.program.blockSize}, ${this.program.blockCount})` : '';
  }

  /**
   * Moves the timeline to step `k` (clamped): a new pool of the same size, and the first k
   * operations replayed on it, without drawing until the end.
   */
  goTo(k) {
    if (!this.program) return;
    const step = Math.max(0, Math.min(this.steps.length, Number.isInteger(k) ? k : 0));
    this.replaying = true;
    try {
      this.newPool();
      for (const { method, args } of this.steps.slice(0, step)) this[method](...args);
    } finally {
      this.replaying = false;
    }
    this.step = step;
    this.changed();
  }

  /**
   * Runs operation `method(...args)` (`run` does it) as the next step of the timeline if it
   * reached the pool, dropping the steps after the current one; draws once at the end.
   */
  perform(method, args, run) {
    if (this.replaying || this.calling) return run();
    this.calling = [];
    let result;
    try {
      result = run();
    } finally {
      const calls = this.calling;
      this.calling = null;
      if (calls.length) {
        const dropped = this.steps.length - this.step;
        this.steps.length = this.step;
        this.steps.push({ method, args, text: calls.join(', ') });
        this.step += 1;
        if (dropped && this.message) {
          this.message.detail = `${this.message.detail ? `${this.message.detail} ` : ''}This call was made at an ` +
            `earlier step of the timeline, so the ${plural(dropped, 'later step')} after it ${dropped === 1 ? 'was' : 'were'} dropped.`;
        }
      }
      this.changed();
    }
    return result;
  }

  /** Notes a call the current operation made on the pool, for the timeline's label. */
  note(text) {
    this.calling?.push(text);
  }

  /** Allocates a block for `requested` bytes; returns its address or undefined. */
  alloc(requested = this.pool?.blockSize) {
    return this.perform('alloc', [requested], () => this.allocNow(requested));
  }

  allocNow(requested) {
    if (!this.running()) return undefined;
    const size = this.pool.blockSize;
    if (!Number.isInteger(requested) || requested < 1 || requested > size) {
      this.say('error', `A pool only serves requests of 1 to ${size} bytes (its block size); ` +
        `${requested} does not fit. A heap would take it, at the cost shown below.`);
      return undefined;
    }
    const head = this.pool.freeList()[0];
    const address = this.pool.alloc();
    this.note(`alloc(${requested}) → ${address === undefined ? 'null' : hex(address)}`);
    if (address === undefined) {
      this.say('warn', `alloc() returned nothing: all ${plural(this.pool.blockCount, 'block')} ` +
        'are in use. A pool never grows on its own; free a block first.');
      return undefined;
    }
    const index = this.pool.indexOf(address);
    this.requested.set(index, requested);
    this.selected = index;
    const from = head === index
      ? 'popped the head of the free list (the block freed most recently)'
      : 'took the next never-used block';
    const waste = size - requested;
    this.say('ok', `alloc() → ${hex(address)}, block ${index}: it ${from}. O(1), no search.` +
      (waste ? ` You asked for ${requested} bytes, so ${waste} of its ${size} stay unused ` +
        '(internal fragmentation).' : ''));
    return address;
  }

  /**
   * Frees the block at `address`; on refusal shows the allocator's own message. `freedFirst`:
   * the index of a block this same click freed just before (see misuseDoubleFree), so that the
   * refusal does not claim the whole click left the map unchanged.
   */
  free(address, options = {}) {
    return this.perform('free', [address, options], () => this.freeNow(address, options));
  }

  freeNow(address, { freedFirst } = {}) {
    if (!this.running()) return false;
    const before = this.snapshot();
    try {
      this.pool.free(address);
      this.note(`free(${hex(address)})`);
    } catch (error) {
      this.note(`free(${hex(address)}): refused`);
      const after = this.snapshot();
      const stateBytes = plural(after.states.length, 'state byte');
      let detail = `The map is unchanged: all ${stateBytes} and the free list are the same as ` +
        'before the call. Only the count of refused frees went up.';
      if (freedFirst !== undefined) {
        detail = `Block ${freedFirst} was in use, so the button freed it first (accepted) and ` +
          `then freed it again (refused). The second free changed nothing: all ${stateBytes} ` +
          'and the free list are the same as after the first. Only the count of refused frees ' +
          'went up.';
      }
      if (!sameMap(before, after)) detail = 'Warning: the map changed although free was refused!';
      this.say('error', error.message, detail);
      return false;
    }
    const index = this.pool.indexOf(address);
    this.requested.delete(index);
    this.selected = index;
    this.say('ok', `free(${hex(address)}): block ${index} is pushed onto the free list and ` +
      `is its new head, so the next alloc takes it first. O(1).`);
    return true;
  }

  /** Frees block `index` (what a click on the map does). */
  freeBlock(index, options) {
    return this.perform('freeBlock', [index, options], () => this.running() && this.freeNow(this.pool.addressOf(index), options));
  }

  /** Writes `text` (UTF-8) at the start of block `index`, if it is in use. */
  write(index, text) {
    return this.perform('write', [index, text], () => this.writeNow(index, text));
  }

  writeNow(index, text) {
    if (!this.running()) return false;
    this.selected = index;
    const state = this.pool.blockStates()[index];
    if (state !== IN_USE) {
      this.say('error', `Block ${index} is not in use. Writing to it would be a use after free ` +
        '(or a write to memory nobody owns), so the page does not do it: allocate first.');
      return false;
    }
    const encoded = new TextEncoder().encode(text);
    const bytes = encoded.slice(0, this.pool.blockSize);
    this.pool.writeBytes(this.pool.addressOf(index), bytes);
    const shown = text.length > 12 ? `${text.slice(0, 12)}…` : text;
    this.note(`write(${hex(this.pool.addressOf(index))}, ${JSON.stringify(shown)})`);
    const cut = encoded.length > bytes.length ? ` (cut to the block's ${bytes.length} bytes)` : '';
    this.say('ok', `Wrote ${plural(bytes.length, 'byte')} into block ${index}${cut} at ` +
      `${hex(this.pool.addressOf(index))}. The hex view reads them back from memory.buffer.`);
    return true;
  }

  /** Frees a block that is not in use: the most recently freed one, or makes one first. */
  misuseDoubleFree() {
    this.perform('misuseDoubleFree', [], () => this.misuseDoubleFreeNow());
  }

  misuseDoubleFreeNow() {
    if (!this.running()) return;
    let index = this.pool.freeList()[0];
    let freedFirst;
    if (index === undefined) {
      const states = this.pool.blockStates();
      index = states.indexOf(IN_USE);
      if (index === -1) index = 0; // never used: "was never allocated"
      else if (this.freeBlock(index)) freedFirst = index;
    }
    this.freeBlock(index, { freedFirst });
  }

  /** Frees the address of the pool's own metadata, which is not a block. */
  misuseOutside() {
    this.perform('misuseOutside', [], () => this.running() && this.freeNow(this.pool.statesAddress));
  }

  /** Frees an address 8 bytes into a block in use (or block 0). */
  misuseMiddle() {
    this.perform('misuseMiddle', [], () => {
      if (!this.running()) return;
      const index = Math.max(0, this.pool.blockStates().indexOf(IN_USE));
      const offset = Math.min(8, this.pool.blockSize - 1) || 1;
      this.freeNow(this.pool.addressOf(index) + offset);
    });
  }

  /** Ends the program: whatever is still in use now is leaked. */
  endProgram() {
    this.perform('endProgram', [], () => this.endProgramNow());
  }

  endProgramNow() {
    if (!this.running()) return;
    this.note('end()');
    const states = this.pool.blockStates();
    this.leaks = [...states.keys()].filter((index) => states[index] === IN_USE);
    const bytes = this.leaks.length * this.pool.blockSize;
    this.say(this.leaks.length ? 'warn' : 'ok', this.leaks.length
      ? `The program ended with ${plural(this.leaks.length, 'block')} still in use ` +
        `(${this.leaks.map((i) => `#${i}`).join(', ')}): ${bytes} bytes leaked. In a long-running ` +
        'program a leak per request grows without bound; the pool can list every one (leaks()).'
      : 'The program ended and every block was freed: no leaks.',
    'Create a new pool to start again.');
  }

  /**
   * The timeline as the page's address keeps it: `{ pool: '32x8', ops: 'a24.a24.f1.w0_hi.e',
   * step: '3' }` (one letter per operation, see LINK_OPS), or null when there is no pool.
   */
  toLink() {
    // Freeing an address is the API's own; no control of the page makes it a step.
    if (!this.program || this.steps.some(({ method }) => !LINK_OPS[method])) return null;
    const ops = this.steps.map(({ method, args }) => {
      const letter = LINK_OPS[method];
      if (method === 'write') return `${letter}${args[0]}_${encodeURIComponent(args[1]).replaceAll('.', '%2E')}`;
      return method === 'alloc' || method === 'freeBlock' ? `${letter}${args[0]}` : letter;
    });
    const { blockSize, blockCount } = this.program;
    return { pool: `${blockSize}x${blockCount}`, ops: ops.join('.'), step: String(this.step) };
  }

  /**
   * Replays a timeline a link carries (what `toLink` made) on a new pool, and goes to its
   * step. The link is untrusted: anything but that shape throws a RangeError that says what
   * is wrong, before the pool is touched.
   */
  openLink({ pool, ops = '', step = '' }) {
    const size = /^(\d{1,3})x(\d{1,2})$/.exec(pool);
    if (!size) throw new RangeError(`the pool must be written SIZExCOUNT, as in 32x8.`);
    const calls = ops === '' ? [] : ops.split('.');
    if (calls.length > LINK_LIMIT) throw new RangeError(`it has ${calls.length} steps; a link keeps at most ${LINK_LIMIT}.`);
    const parsed = calls.map(parseLinkOp);
    if (!/^\d{1,4}$/.test(step)) throw new RangeError(`its step must be a whole number.`);
    const outside = parsed.find(([method, args]) => method !== 'alloc' && args[0] >= Number(size[2]));
    if (outside) throw new RangeError(`its pool has no block ${outside[1][0]}.`);
    this.create(Number(size[1]), Number(size[2]));
    this.quietly(() => { for (const [method, args] of parsed) this[method](...args); });
    this.goTo(Number(step));
  }

  /** The state bytes, the free list and the counters, copied. */
  snapshot() {
    const pool = this.pool;
    return {
      states: pool.blockStates().slice(),
      freeList: pool.freeList().slice(),
      inUse: pool.inUse,
      totalAllocs: pool.totalAllocs,
      totalFrees: pool.totalFrees,
    };
  }

  running() {
    if (!this.pool) {
      this.say('error', 'Create a pool first.');
      return false;
    }
    if (this.ended) {
      this.say('warn', 'The program has ended. Create a new pool to start again.');
      return false;
    }
    return true;
  }

  /** Runs `run` without drawing on the way (the caller draws once at the end). */
  quietly(run) {
    this.quiet = true;
    try {
      run();
    } finally {
      this.quiet = false;
    }
  }

  changed() {
    if (!this.quiet) this.onChange?.();
  }

  /** Sets the message; draws now unless an operation (drawn at its end) or a replay runs. */
  say(kind, text, detail = '') {
    this.message = { kind, text, detail };
    if (!this.calling && !this.replaying) this.changed();
  }
}

function checkLimit(name, value, { min, max }) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`The ${name} must be a whole number from ${min} to ${max} here ` +
      `(the crate itself accepts far more; the page keeps the map on one screen).`);
  }
}

function sameMap(a, b) {
  const equal = (x, y) => x.length === y.length && x.every((value, i) => value === y[i]);
  return equal(a.states, b.states) && equal(a.freeList, b.freeList) &&
    a.inUse === b.inUse && a.totalAllocs === b.totalAllocs && a.totalFrees === b.totalFrees;
}
