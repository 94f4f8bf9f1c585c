// A program of allocator calls, as a learner types it and as every figure is written:
//
//   a = alloc(24)      allocate 24 bytes, and call the address a
//   free(a)            give it back
//   free(b + 8)        free an address 8 bytes into b (the allocator should refuse)
//   free(0x1000)       free any address at all
//   end()              the program ends: whatever is still allocated has leaked
//
// The text may come from a link, so it is untrusted input. It is read by this small parser
// and nothing else: no eval, no Function, no innerHTML. Anything else (script-like text,
// numbers too large to be sizes or addresses, programs too long to play) is refused with a
// message that says which line and why, before any of it runs.

/** How much a program may ask for, so that a link cannot freeze the tab. */
export const PROGRAM_LIMITS = Object.freeze({ lines: 400, characters: 4000, nameLength: 16 });

/** The largest size or address a call may name: linear memory has 32-bit addresses. */
const MAX_NUMBER = 0xffffffff;

const NAME = '[a-z_][a-z0-9_]*';
const NUMBER = '0x[0-9a-f]+|[0-9]+';
const ALLOC = new RegExp(`^(?:(${NAME})\\s*=\\s*)?alloc\\(\\s*(${NUMBER})?\\s*\\)$`, 'i');
const FREE = new RegExp(`^free\\(\\s*(?:(${NAME})\\s*(?:([+-])\\s*(${NUMBER}))?|(${NUMBER}))\\s*\\)$`, 'i');
const END = /^end\(\s*\)$/i;

/** A refusal of the whole program, with the line it is about (1-based; 0 for all of it). */
export class ProgramError extends Error {
  constructor(line, message) {
    super(line ? `line ${line}: ${message}` : message);
    this.line = line;
  }
}

/**
 * Parses `text` into calls: `{ op: 'alloc', name, size }`, `{ op: 'free', name, offset }` or
 * `{ op: 'free', address }`, and `{ op: 'end' }`, each with its `line` and `text`. Blank lines
 * and `#` comments are skipped. Throws ProgramError.
 */
export function parseProgram(text) {
  if (typeof text !== 'string') throw new ProgramError(0, 'the program must be text');
  if (text.length > PROGRAM_LIMITS.characters) {
    throw new ProgramError(0, `the program has ${text.length} characters; the page plays at most ` +
      `${PROGRAM_LIMITS.characters}. Shorten it.`);
  }
  const lines = text.split(/\r?\n|;/);
  const calls = [];
  const names = new Set();
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const source = lines[i].replace(/#.*$/, '').trim();
    if (source === '') continue;
    if (calls.length === PROGRAM_LIMITS.lines) {
      throw new ProgramError(0, `the program has more than ${PROGRAM_LIMITS.lines} calls; the ` +
        `page plays at most ${PROGRAM_LIMITS.lines}, one step each. Shorten it.`);
    }
    calls.push(parseCall(source, line, names));
  }
  if (calls.length === 0) throw new ProgramError(0, 'the program has no calls: type one per line, like a = alloc(24)');
  return calls;
}

function parseCall(source, line, names) {
  const shown = source.length > 40 ? `${source.slice(0, 40)}…` : source;
  let match = ALLOC.exec(source);
  if (match) {
    const [, name, size] = match;
    const call = { op: 'alloc', line, text: source, size: size === undefined ? undefined : number(size, line, 'the size') };
    if (name !== undefined) {
      call.name = checkName(name, line);
      names.add(call.name);
    }
    return call;
  }
  match = FREE.exec(source);
  if (match) {
    const [, name, sign, offset, address] = match;
    if (address !== undefined) return { op: 'free', line, text: source, address: number(address, line, 'the address') };
    const call = { op: 'free', line, text: source, name: checkName(name, line), offset: 0 };
    if (!names.has(call.name)) {
      throw new ProgramError(line, `${call.name} has no value yet: write ${call.name} = alloc(…) on an earlier line`);
    }
    if (offset !== undefined) call.offset = (sign === '-' ? -1 : 1) * number(offset, line, 'the offset');
    return call;
  }
  if (END.test(source)) return { op: 'end', line, text: source };
  const call = /^(?:\w+\s*=\s*)?(alloc|free)\s*\((.*)\)$/i.exec(source);
  if (call) {
    const argument = call[2].length > 20 ? `${call[2].slice(0, 20)}…` : call[2];
    throw new ProgramError(line, `${call[1]}(${argument}): ${call[1] === 'alloc' ? 'the size' : 'the address'} ` +
      'must be a whole number written in digits (24, or 0x18 in hex)' +
      (call[1] === 'free' ? ', a name, or a name plus or minus such a number' : '') + '.');
  }
  throw new ProgramError(line, `"${shown}" is not a call this page knows. Write a = alloc(24), ` +
    'free(a), free(a + 8), free(0x1000) or end().');
}

function checkName(name, line) {
  if (name.length > PROGRAM_LIMITS.nameLength) {
    throw new ProgramError(line, `the name ${name.slice(0, PROGRAM_LIMITS.nameLength)}… is longer ` +
      `than ${PROGRAM_LIMITS.nameLength} letters`);
  }
  if (['alloc', 'free', 'end'].includes(name.toLowerCase())) throw new ProgramError(line, `${name} is a call, not a name`);
  return name;
}

/** Digits only (decimal or 0x hex), at most 32 bits: 1e309, -1, 1.5 and 2^40 are refused. */
function number(digits, line, what) {
  const value = digits.toLowerCase().startsWith('0x') ? Number.parseInt(digits.slice(2), 16) : Number(digits);
  if (digits.length > 12 || !Number.isSafeInteger(value) || value > MAX_NUMBER) {
    throw new ProgramError(line, `${what} ${digits.slice(0, 12)}${digits.length > 12 ? '…' : ''} is too ` +
      `large: addresses and sizes here have 32 bits (at most ${MAX_NUMBER})`);
  }
  return value;
}

