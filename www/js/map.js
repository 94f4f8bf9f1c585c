// Draws a pool's memory map from what the pool itself reports: the metadata part (its state
// bytes, read from linear memory), every block in address order with its state, address and
// used bytes, and the free list as arrows from its head through each free block. The
// playground's map and every pool figure (subjects.js) draw their blocks the same way.

import { el, hex, byteHex, svg, plural } from './format.js';

export const STATE_NAMES = ['never used', 'free', 'in use'];
const STATE_CLASSES = ['never-used', 'free', 'in-use'];

/**
 * Draws `playground`'s pool into `container`.
 * Blocks are buttons carrying `data-index`; main.js turns a click into a free.
 */
export function drawPoolMap(container, playground) {
  const pool = playground.pool;
  container.replaceChildren();
  if (!pool) return;
  const { stateBytes, blocks } = drawPool(pool, playground.memory, {
    requested: playground.requested, leaks: playground.leaks, selected: playground.selected,
    hint: playground.ended ? '' : ' Press to free it.', disabled: playground.ended,
  });
  // The metadata: the chunk lists (a head and a stack link per 16 KiB chunk of memory the
  // blocks start in) and padding up to the blocks' alignment, then the state bytes as they
  // are in memory, right below block 0.
  const lists = pool.statesAddress - pool.regionBase;
  const metadata = el('div', { class: 'metadata', 'data-part': 'metadata' },
    el('p', { class: 'meta-title' },
      el('strong', {}, 'metadata'), ` at ${hex(pool.regionBase)}: `,
      `${plural(lists, 'byte')} of chunk lists and padding + ${plural(pool.blockCount, 'state byte')}`),
    stateBytes);
  container.append(metadata, el('div', { class: 'block-area' }, blocks, svg('svg', { class: 'links', 'aria-hidden': 'true' })));
  markChangedBlocks(container, [...blocks.querySelectorAll('button.block')], blockStateNames(pool));
  drawFreeListLinks(container);
}

/** Each block's state by name, in address order. */
export const blockStateNames = (pool) => [...pool.blockStates()].map((state) => STATE_NAMES[state]);

/**
 * A pool's state bytes and its blocks in address order, read from the pool and from its
 * bytes in linear memory (`memory`, the module's): what the playground's map and every pool figure draw.
 * Blocks are buttons carrying `data-index` and `data-state`. `requested`: block index → the
 * bytes its program asked for (drawn as a fill); `names`: address → the program's name for
 * it; `leaks`: the indices leaked; `hint`: what pressing a block does, for a screen reader.
 */
export function drawPool(pool, memory, { requested, names, leaks, selected, hint = '', disabled = false }) {
  const count = pool.blockCount;
  const size = pool.blockSize;
  const states = pool.blockStates();
  const head = pool.freeList()[0];
  const leaked = new Set(leaks ?? []);
  // Read after the calls above: one that allocates may grow the memory, which replaces its buffer.
  const buffer = memory.buffer;
  const view = new DataView(buffer);
  const stateBytes = el('ol', { class: 'state-bytes', 'aria-label': 'State bytes in memory, one per block' },
    [...new Uint8Array(buffer, pool.statesAddress, count)].map((byte, index) => el('li', {
      class: `state-byte ${STATE_CLASSES[byte] ?? ''}`,
      title: `block ${index}: ${byteHex(byte)} = ${STATE_NAMES[byte] ?? 'damaged'}`,
    }, byteHex(byte))));

  const blocks = el('ol', { class: 'blocks', 'aria-label': `${count} blocks in address order` });
  for (let index = 0; index < count; index++) {
    const state = states[index];
    const address = pool.addressOf(index);
    const shown = leaked.has(index) ? 'leaked' : STATE_NAMES[state];
    const parts = [
      el('span', { class: 'b-index' }, `#${index}`),
      el('span', { class: 'b-state' }, shown),
      el('span', { class: 'b-addr' }, hex(address)),
    ];
    let label = `block ${index} at ${hex(address)}, ${shown}`;
    const name = names?.get(address);
    if (name && state === 2) {
      parts.push(el('span', { class: 'b-name' }, name));
      label += `, ${name}`;
    }
    if (requested && state === 2) {
      const bytes = requested.get(index) ?? size;
      parts.push(el('span', { class: 'b-fill', 'aria-hidden': 'true' },
        el('span', { class: 'b-used', style: `width:${(100 * bytes) / size}%` })));
      parts.push(el('span', { class: 'b-bytes' }, `${bytes}/${size} B`));
      label += `, ${bytes} of ${size} bytes requested`;
    }
    if (state === 1) {
      // The link is a word inside the free block itself, holding the next free block's
      // address: read it from memory, and name the block it points at.
      const linkAt = pool.linkAddress(index);
      const next = view.getUint32(linkAt, true);
      const text = `next: ${blockName(next, pool.blocksStart, size, count)}`;
      parts.push(el('span', { class: 'b-link', title: `link at ${hex(linkAt)}: ${hex(next)}` }, text));
      label += `, free list ${text}`;
    }
    if (head === index) {
      parts.push(el('span', { class: 'b-head' }, 'head'));
      label += ', head of the free list';
    }
    // The name is the visible text (a speech user says what they see), plus the hint.
    if (hint) parts.push(el('span', { class: 'visually-hidden' }, hint));
    const classes = ['block', STATE_CLASSES[state]];
    if (leaked.has(index)) classes.push('leak');
    if (selected === index) classes.push('selected');
    blocks.append(el('li', {},
      el('button', {
        type: 'button', class: classes.join(' '), 'data-index': index, 'data-state': STATE_NAMES[state],
        title: label, disabled,
      }, parts)));
  }
  return { stateBytes, blocks };
}

/** Each map's arrowhead marker needs an id of its own. */
let markers = 0;

/**
 * Draws the free list's arrows over the blocks; call again when the layout changes. An
 * arrow that was not there in the map's previous drawing is drawn in (`link-new`, animated
 * unless the reader asked for reduced motion).
 */
export function drawFreeListLinks(container) {
  const area = container.querySelector('.block-area');
  const links = area?.querySelector('svg.links');
  if (!links) return;
  const buttons = [...area.querySelectorAll('button.block')];
  const origin = area.getBoundingClientRect();
  links.setAttribute('width', origin.width);
  links.setAttribute('height', origin.height);
  container.arrowhead ??= `arrowhead-${++markers}`;
  links.replaceChildren(svg('defs', {},
    svg('marker', {
      id: container.arrowhead, viewBox: '0 0 10 10', refX: 9, refY: 5,
      markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse',
    }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
  // Follow the links as they are stored in memory, from the block marked head.
  const order = [];
  let current = buttons.find((b) => b.querySelector('.b-head') && b.dataset.state === 'free');
  const seen = new Set();
  while (current && !seen.has(current)) {
    seen.add(current);
    order.push(current);
    const next = current.querySelector('.b-link')?.textContent.match(/#(\d+)/);
    current = next ? buttons[Number(next[1])] : undefined;
  }
  const point = (button, dx) => {
    const box = button.getBoundingClientRect();
    return { x: box.left - origin.left + box.width * dx, y: box.top - origin.top + 2 };
  };
  const drawn = new Set();
  for (let i = 1; i < order.length; i++) {
    const from = point(order[i - 1], 0.5);
    const to = point(order[i], 0.25);
    const lift = 16 + Math.min(24, Math.abs(to.x - from.x) / 12);
    const top = Math.min(from.y, to.y) - lift;
    const key = `${order[i - 1].dataset.index}>${order[i].dataset.index}`;
    drawn.add(key);
    links.append(svg('path', {
      class: container.shownLinks?.has(key) ? 'link' : 'link link-new',
      d: `M${from.x},${from.y} C${from.x},${top} ${to.x},${top} ${to.x},${to.y}`,
      pathLength: 1,
      'marker-end': `url(#${container.arrowhead})`,
    }));
  }
  container.shownLinks = drawn;
}

/** What a free-list link points at: `#3` for block 3's address, `end` for an end mark (an
 * odd address: a block of the same chunk plus one, never a block), or the bare address if it
 * is neither (a damaged link). */
function blockName(address, blocksStart, size, count) {
  const offset = address - blocksStart;
  if (address % 2 === 1) return 'end';
  if (offset >= 0 && offset < count * size && offset % size === 0) return `#${offset / size}`;
  return hex(address);
}

/** The free list as a sentence: "head → #4 → #1 → end, then never-used blocks from #7". */
export function describeFreeList(pool) {
  if (!pool) return '';
  const list = [...pool.freeList()].map((index) => `#${index}`);
  const never = pool.nextNeverUsed < pool.blockCount
    ? `then never-used blocks from #${pool.nextNeverUsed} on, in address order`
    : 'and no never-used blocks are left';
  return `Free list (the order alloc hands blocks out): head → ${[...list, 'end'].join(' → ')}, ${never}.`;
}

/**
 * Marks the blocks whose state changed since `container` was last drawn (`became-in-use`,
 * `became-free`): the stylesheet animates them, a block filling or emptying, unless the
 * reader asked for reduced motion. `states`: one state name per block, in address order;
 * `keys` (for blocks that move, as a heap's do): what makes a block the same block as before,
 * by default its index.
 */
export function markChangedBlocks(container, buttons, states, keys = states.map((_, i) => i)) {
  const shown = container.shownBlocks;
  if (shown) {
    states.forEach((state, i) => {
      const was = shown.get(keys[i]);
      // A new free block (what a heap's split leaves over) was not freed: it is not marked.
      if (was !== state && (state === 'in use' || (state === 'free' && was !== undefined))) {
        buttons[i].classList.add(state === 'in use' ? 'became-in-use' : 'became-free');
      }
    });
  }
  container.shownBlocks = new Map(keys.map((key, i) => [key, states[i]]));
}
