// Small formatting helpers shared by the views.

/** An address as the allocator prints it: 0x followed by lowercase hex. */
export function hex(address) {
  return '0x' + (address >>> 0).toString(16);
}

/** A byte as two hex digits. */
export function byteHex(byte) {
  return byte.toString(16).padStart(2, '0');
}

/** "1 block", "3 blocks". */
export function plural(count, word) {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** A fraction as a whole percentage. */
export function percent(fraction) {
  return `${Math.round(fraction * 100)}%`;
}

/** Creates an element with attributes and children (strings become text nodes). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'style') node.style.cssText = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes. */
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** The frees a pool refused, of every kind: not in the pool, misaligned, double. */
export function refusedFrees(pool) {
  return Number(pool.rejectedNotInPool) + Number(pool.rejectedMisaligned) + Number(pool.rejectedDoubleFree);
}
