// The story's figures: for each idea, its allocator, its calls and a sentence per call.
// Each is placed where README.md says `<!-- figure: NAME -->`; figure.js does the rest.
// The sentences say what the call does and why; the bytes it wrote are named by the figure
// itself, from memory.

import { parseProgram } from './program.js';
import { PoolSubject, HeapSubject } from './subjects.js';
import { FIGURES as BEYOND_FIGURES } from './beyond/index.js';

/** A figure's program: one call per line, then its sentence after `//`. */
function script(text) {
  const lines = text.trim().split('\n').map((line) => line.split('//'));
  return {
    calls: parseProgram(lines.map(([call]) => call).join('\n')),
    sentences: lines.map(([, sentence]) => (sentence ?? '').trim()),
  };
}

export const FIGURES = {
  heap: (wasm) => ({
    title: 'A heap serving mixed sizes',
    subject: new HeapSubject(wasm, 96),
    intro: 'A heap of 96 bytes, one free block so far. Its first 4 bytes are that block\'s header: 0x60 = 96 bytes, lowest bit 0 = free. Press ▶ or →.',
    ...script(`
a = alloc(24)  // alloc(24) cut 28 bytes off the front of the free block: 4 bytes of header and 24 for a. The header says 0x1d: 28 bytes, plus 1 for "in use". a is the address just after it. a's first bytes still read ff ff ff ff, the free list's end mark from when they were free: alloc does not clear memory.
b = alloc(8)   // b needs 8 bytes: a 12-byte block, header 0x0d, right after a.
c = alloc(40)  // c takes 44 bytes. 12 bytes are left free at the end of the heap.
free(b)        // free(b) reads b's header (4 bytes before b) to learn the block is 12 bytes, clears its in-use bit, and puts the block on the free list: its first payload word now holds where the next free block is.
d = alloc(4)   // d needs 8 bytes. The heap walks its free list from the lowest address and takes the first hole that fits: b's old 12-byte block, too small to split, so d gets all 12.
`),
  }),

  fragmentation: (wasm) => ({
    title: 'Fragmentation: free bytes, no hole',
    subject: new HeapSubject(wasm, 128),
    intro: 'A heap of 128 bytes. A program allocates big objects (24 bytes) that live briefly, with small ones (4 bytes) that live long between them.',
    ...script(`
big1 = alloc(24)   // A big object: 28 bytes with its header.
small1 = alloc(4)  // A small one right after it: 8 bytes.
big2 = alloc(24)   // Another big one…
small2 = alloc(4)  // …and a small one.
big3 = alloc(24)   // A third pair…
small3 = alloc(4)  // …and 20 bytes stay free at the end.
free(big1)         // The big objects are done. big1's 28 bytes become a hole.
free(big2)         // big2's hole cannot merge with big1's: small1 sits between them.
free(big3)         // Three holes of 28 bytes and one of 20: 104 bytes free in all.
huge = alloc(40)   // 40 bytes need a 44-byte hole. There are 104 free bytes, but no single hole of 44: the heap refuses. That is external fragmentation.
free(small1)       // Freeing small1 lets the heap merge it with the holes on both sides: one hole of 64 bytes.
huge = alloc(40)   // Now 44 bytes fit, in the merged hole.
`),
  }),

  leak: (wasm) => ({
    title: 'A leak',
    subject: new HeapSubject(wasm, 128),
    intro: 'A loop handles a request per turn: it allocates a buffer and a result, frees the buffer… and forgets the result. The name res is reused each turn, so the old result\'s address is lost.',
    ...script(`
buf = alloc(16)  // Turn 1: a buffer…
res = alloc(8)   // …and a result.
free(buf)        // The buffer is freed. The result is not: the program keeps it, for now.
buf = alloc(16)  // Turn 2: the buffer fits the hole turn 1 left.
res = alloc(8)   // A new result. The old res is overwritten: nothing points at turn 1's result any more (the map calls it lost), and nothing can free it.
free(buf)        // Two results are stranded now.
buf = alloc(16)  // Turn 3…
res = alloc(8)   // …a third result…
free(buf)        // …and a third leak.
end()            // The program ends with three blocks that were never freed. A long-running program leaks one per request, without bound.
`),
  }),

  overhead: (wasm) => ({
    title: 'Overhead: headers and the search',
    subject: new HeapSubject(wasm, 128),
    intro: 'Six objects of 4 bytes each on a heap. Watch the counters: header bytes, and blocks searched.',
    ...script(`
a = alloc(4)   // 4 bytes of object, 4 bytes of header: the block is 8 bytes, half of it bookkeeping.
b = alloc(4)   // Another 4 header bytes: 8 so far, for 8 bytes of objects.
c = alloc(4)   // Each alloc also split the free block at the end in two: the split rewrote its header.
d = alloc(4)   // 16 bytes of objects, 16 bytes of headers.
e = alloc(4)   // The search is still short: the only free block is the one at the end.
f = alloc(4)   // Six objects, 24 bytes of them, and 24 bytes of headers.
free(a)        // Holes appear…
free(c)        // …one between each two objects still in use…
free(e)        // …three holes of 8 bytes.
g = alloc(12)  // 12 bytes need a 16-byte block. First fit looks at every hole in address order, each too small, before the free space at the end: see "blocks searched" rise. A pool never searches.
`),
  }),

  pool: (wasm) => ({
    title: 'The pool',
    subject: new PoolSubject(wasm, 16, 6),
    intro: 'A pool of 6 blocks of 16 bytes. Every state byte is 00: never used. Nothing else has been written; the pool has no header on any block.',
    ask: [5, 7],
    ...script(`
a = alloc(16)  // No block was ever freed, so alloc takes the first never-used block, in address order: block 0. Its state byte becomes 02, in use.
b = alloc(16)  // The next never-used block: block 1. No search: the pool only counts how many blocks it has handed out.
c = alloc(16)  // Block 2.
free(b)        // free(b) checks b's state byte (02: in use, so the free is allowed), sets it to 01, and pushes block 1 onto the free list. The list was empty, so block 1's link is the end mark.
free(a)        // Block 0 becomes the new head: its first 4 bytes now hold the address of block 1, the old head. The free list lives inside the free blocks.
d = alloc(16)  // alloc pops the head of the free list: block 0, the block freed last. Its first 4 bytes still hold the old link: like malloc, a pool does not clear the block it hands out.
e = alloc(16)  // The free list's next block: block 1.
f = alloc(16)  // The free list is empty again, so alloc takes the next never-used block: block 3.
`),
  }),

  safety: (wasm) => ({
    title: 'Misuse, refused',
    subject: new PoolSubject(wasm, 16, 4),
    intro: 'A pool of 4 blocks. Some of these frees are mistakes that in C would corrupt the heap without a word. Watch the bytes: a refused free changes none.',
    ask: [7],
    ...script(`
a = alloc(16)  // a is block 0.
b = alloc(16)  // b is block 1.
free(a)        // A correct free: block 0's state byte goes from 02 to 01.
free(a)        // A double free. The pool reads block 0's state byte: 01, already free. Refused; not one byte changed.
free(b + 8)    // An interior free: 8 bytes into block 1, not the start of a block. Refused, with the offset.
free(0x40)     // A foreign address: not in this pool at all. Refused.
free(b)        // b freed properly: accepted. Three mistakes were refused and nothing was damaged.
c = alloc(16)  // The pool is exactly as if the mistakes had never happened: alloc pops the head of the free list.
`),
  }),

  // Issue 18's figures (www/js/beyond/).
  ...BEYOND_FIGURES,
};

/** Sentences for a program the reader typed: what each call did, on a pool or a heap. */
export function ownSentence(kind) {
  return (index, outcome) => {
    if (!outcome) return '';
    if (outcome.refused) return 'Refused.';
    if (!outcome.ok) return '';
    if (outcome.text.includes('alloc(')) {
      return kind === 'pool' ? `The pool handed out block ${outcome.block}, because ${outcome.why}`
        : `${outcome.why[0].toUpperCase()}${outcome.why.slice(1)} What is left of that block, if it can hold a block of its own, is split off and stays free.`;
    }
    if (outcome.text.startsWith('end(')) return '';
    return kind === 'pool' ? 'The block is the free list\'s new head.' : 'The block is free again, merged with any free neighbour.';
  };
}

export const OWN_PROGRAM = `a = alloc(24)
b = alloc(8)
free(a)
free(a)
free(b + 8)
c = alloc(16)`;
