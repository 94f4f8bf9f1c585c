// The panels beside the map: the counters the pool keeps, the message of the last operation,
// and a hex view of a block's bytes read straight from the module's linear memory.

import { el, hex, byteHex, plural, refusedFrees } from './format.js';

/** Fills the <dl> with the pool's counters (each <dd> has a data-counter name for tests). */
export function drawCounters(list, playground) {
  const pool = playground.pool;
  list.replaceChildren();
  if (!pool) return;
  let wasted = 0;
  for (const [, requested] of playground.requested) wasted += pool.blockSize - requested;
  const rejected = refusedFrees(pool);
  const leaks = playground.leaks;
  const rows = [
    ['in-use', 'In use', pool.inUse],
    ['free', 'Free (on the free list)', pool.freeList().length],
    ['never-used', 'Never used', pool.blockCount - pool.nextNeverUsed],
    ['peak', 'Peak in use', pool.peakInUse],
    ['allocs', 'Allocations', pool.totalAllocs],
    ['frees', 'Frees', pool.totalFrees],
    ['rejected', 'Rejected frees', `${rejected} (${pool.rejectedDoubleFree} double, ` +
      `${pool.rejectedMisaligned} misaligned, ${pool.rejectedNotInPool} not in pool)`],
    ['wasted', 'Bytes wasted inside blocks', `${wasted} B`],
    ['leaks', 'Leaks (blocks in use at the end)', leaks === null
      ? 'the program is still running'
      : `${plural(leaks.length, 'block')}, ${leaks.length * pool.blockSize} B`],
  ];
  for (const [name, term, value] of rows) {
    list.append(el('div', { class: 'counter' },
      el('dt', {}, term), el('dd', { 'data-counter': name }, String(value))));
  }
}

/** Shows the last message, an error in its own colour, with its detail line. */
export function drawMessage(box, message) {
  box.replaceChildren();
  box.className = 'message';
  if (!message) return;
  box.classList.add(message.kind);
  const label = { ok: 'Done', error: 'Refused', warn: 'Note', info: 'Note' }[message.kind];
  box.append(el('p', {}, el('strong', {}, `${label}: `), el('span', { class: 'text' }, message.text)));
  if (message.detail) box.append(el('p', { class: 'detail' }, message.detail));
}

/** Hex dump of the selected block, 8 bytes a row, from `memory.buffer`. */
export function drawHex(container, playground) {
  const pool = playground.pool;
  container.replaceChildren();
  if (!pool) return;
  const index = Math.min(playground.selected, pool.blockCount - 1);
  const address = pool.addressOf(index);
  const bytes = new Uint8Array(playground.memory.buffer, address, pool.blockSize);
  const state = ['never used', 'free', 'in use'][pool.blockStates()[index]];
  container.append(el('p', { class: 'hex-title' },
    `Block ${index} (${state}), ${pool.blockSize} bytes at ${hex(address)}`));
  const rows = el('pre', { class: 'hex-rows', tabindex: 0, 'aria-label': `Bytes of block ${index}` });
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 8) {
    const row = bytes.subarray(offset, offset + 8);
    const hexPart = [...row].map(byteHex).join(' ').padEnd(23, ' ');
    const text = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${hex(address + offset).padStart(10, ' ')}  ${hexPart}  ${text}`);
  }
  rows.textContent = lines.join('\n');
  container.append(rows);
  if (state === 'free') {
    const offset = pool.linkAddress(index) - address;
    const where = offset === 0 ? 'in its first 4 bytes' : `in the 4 bytes at offset ${offset}`;
    container.append(el('p', { class: 'hint' },
      `A free block holds the free-list link ${where} (little-endian): the address of the next free block.` +
      (offset === 0 ? '' : ' (Blocks of 128 bytes or more stagger their links by a 64-byte cache line, so that the links of many blocks do not crowd into the same cache set.)')));
  }
}
