// "What no check can catch: use after free": a program writes through a pointer it kept after
// free(), over the block's free-list link, and the figure steps on to show what the pool's
// checks make of it on the next allocations. Every outcome shown is what the real pool does
// (tests/use_after_free.rs proves the same cases natively): a link that points nowhere is
// refused and its list dropped, a link to a block in use is refused too, and a write into a
// block that has a new owner is seen by nobody.

import { parseProgram } from '../program.js';
import { PoolSubject } from '../subjects.js';
import { el, hex } from '../format.js';

/** A pool whose figure also shows how often alloc dropped a damaged list, and links that
 * point nowhere as what they hold. */
class DamagedPoolSubject extends PoolSubject {
  counters() {
    const rows = super.counters().filter(([name]) => name !== 'header-bytes' && name !== 'searched');
    rows.push(['damaged', 'damaged lists dropped', this.pool.damagedFreeLists]);
    return rows;
  }

  draw(container, options) {
    super.draw(container, options);
    // A link a write overwrote is no block's address: say what it holds, not "#2.6".
    const pool = this.pool;
    const view = new DataView(this.wasm.wasmMemory().buffer);
    for (const button of container.querySelectorAll('button.block[data-state="free"]')) {
      const index = Number(button.dataset.index);
      const next = view.getUint32(pool.linkAddress(index), true);
      const offset = next - pool.blocksStart;
      const isBlock = next % 2 === 0 && offset >= 0 && offset % pool.blockSize === 0 && offset / pool.blockSize < pool.blockCount;
      if (next % 2 === 1 || isBlock) continue;
      const link = button.querySelector('.b-link');
      link.textContent = `next: ${hex(next)}?`;
      link.classList.add('damaged');
      button.title = button.title.replace(/free list next: .*$/, `free list next: ${hex(next)}, no block`);
    }
    for (const index of this.lost()) {
      const button = container.querySelector(`button.block[data-index="${index}"]`);
      button.classList.add('lost');
      button.append(el('span', { class: 'b-lost' }, 'lost: no link leads here'));
      button.title += ', lost: no free-list link leads here';
    }
  }

  /** Free blocks on no list: the ones a damaged link cut off. */
  lost() {
    const states = this.pool.blockStates();
    const listed = new Set(this.pool.freeList());
    return [...states.keys()].filter((index) => states[index] === 1 && !listed.has(index));
  }
}

/** A write through the stale pointer `name`: the little-endian word `value(names)`. */
function write(name, text, value) {
  return {
    op: 'write', text,
    run(subject, names) {
      const address = names.get(name);
      const word = value(names) >>> 0;
      const bytes = new Uint8Array([word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24]);
      subject.pool.writeDangling(address, bytes);
      return { ok: true, text: `${text} (write at ${hex(address)})`, address };
    },
  };
}

/** One ordinary call, read by the page's own parser (the names it uses are declared first,
 * as the figure's program does on earlier lines). */
const call = (text) => {
  const names = [...text.matchAll(/free\((\w+)\)/g)].map(([, name]) => `${name} = alloc(16)`);
  return parseProgram([...names, text].join('\n')).at(-1);
};

/** The figure: a pool of five 16-byte blocks, and a program with a dangling pointer. */
export function useAfterFreeFigure(wasm) {
  const steps = [
    [call('a = alloc(16)'), 'a is block 0.'],
    [call('b = alloc(16)'), 'b is block 1.'],
    [call('c = alloc(16)'), 'c is block 2.'],
    [call('free(a)'), 'Block 0 goes on the free list.'],
    [call('free(b)'), 'Block 1 is the head now, and its first 4 bytes hold block 0\'s address: the free list.'],
    [write('b', '*b = 42', () => 42),
      'The bug: the program kept b after freeing it, and writes 42 through it. The 42 lands on block 1\'s free-list link: the way to block 0 is gone. No check runs on a write: the pool cannot see it happen.'],
    [call('d = alloc(16)'),
      'alloc pops block 1: its state byte says free, so handing it out is right. It takes block 1\'s link, 0x2a, as the next head without following it yet. d starts with the 42 the old owner wrote.'],
    [call('e = alloc(16)'),
      'Now alloc looks at 0x2a: it is no block of this pool, so the pool refuses to follow it, drops what was left of that list and counts one damaged list. It hands out the never-used block 3 instead. Block 0 is lost: free, but on no list, so never handed out again while the pool lives.'],
    [write('b', '*b = 7', () => 7),
      'The stale b writes again. Block 1 belongs to d now, so this lands in d\'s data. The block is in use, as it should be, and no byte of the pool changes: this is the use after free that no check of an allocator can catch.'],
    [call('free(c)'), 'Block 2 is the only block on the free list.'],
    [write('c', '*c = e', (names) => names.get('e')),
      'Another stale write, of a pointer this time: c\'s link now holds e\'s address, as if e\'s block were free.'],
    [call('f = alloc(16)'), 'alloc pops block 2 and takes the forged link, e\'s address, as the next head.'],
    [call('g = alloc(16)'),
      'e\'s block is in use (its state byte says 02), so the pool refuses to hand it out a second time: a second damaged list, dropped. g gets the last never-used block, 4.'],
    [call('h = alloc(16)'),
      'No block left to hand out: alloc returns nothing, although block 0 is free. The checks kept every block in use with one owner; they could not keep the lost block, nor d\'s data.'],
  ];
  return {
    title: 'Use after free',
    subject: new DamagedPoolSubject(wasm, 16, 5),
    intro: 'A pool of five 16-byte blocks. The program below keeps a pointer after freeing it and writes through it. Watch block 1\'s first 4 bytes, and the counter of damaged lists.',
    calls: steps.map(([c]) => c),
    sentences: steps.map(([, sentence]) => sentence),
  };
}
