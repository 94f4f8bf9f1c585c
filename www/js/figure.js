// A live figure: one idea of the story, shown on its own real allocator.
//
// A figure is an allocator instance (a subject: subjects.js) + a list of calls (a program:
// program.js) + a timeline over those calls + a renderer (the subject's map, the region's
// bytes in hex, the counters) + a sentence per step. The timeline's position is the only
// state a figure has: the state at step k is made by replaying the first k calls on a fresh
// instance, so it is the same whether the reader got there forwards, backwards, or from a
// link. After each step the bytes of the region that the last call changed are marked in
// the hex view and named in a sentence ("state byte 2: 02 → 01").
//
// From the pool onward a figure may ask before a call ("which block will alloc() hand out
// now?"): the reader clicks a block, the real call runs, and the figure says whether the
// guess was right and why.
//
// A subject has: kind, fresh(), alloc(size), free(address), end(), region(), byteAt(address),
// describeRun(...), counters(), draw(container, { labels, asking }); and, to ask, nextAlloc(call)
// ({ index, why }), servedBy(address, expected) and question(call).

import { el, hex, byteHex, plural } from './format.js';
import { drawFreeListLinks } from './map.js';

export class Figure {
  /**
   * `spec`: { id, title, subject, calls (from parseProgram), sentences (one per call, or a
   * function of the call index), intro (the sentence for step 0), ask (call indices before
   * which the reader is asked to predict), onStep (called after every move, for the URL) }.
   */
  constructor(wasm, spec) {
    this.wasm = wasm;
    this.spec = spec;
    this.id = spec.id;
    this.subject = spec.subject;
    this.calls = spec.calls;
    this.ask = onlyAllocs(spec.ask, this.calls);
    this.step = 0;
    this.verdict = null;
    this.element = this.build();
  }

  get last() { return this.calls.length; }

  build() {
    const id = this.id;
    this.range = el('input', {
      type: 'range', min: 0, max: this.last, step: 1, value: 0, class: 'step-range',
      id: `figure-${id}-range`, 'aria-label': `${this.spec.title}: step`,
    });
    this.prev = el('button', { type: 'button', class: 'step-prev', 'aria-label': `${this.spec.title}: previous step` }, '◀');
    this.next = el('button', { type: 'button', class: 'step-next', 'aria-label': `${this.spec.title}: next step` }, '▶');
    this.position = el('span', { class: 'step-count', 'aria-hidden': 'true' });
    this.callsLabel = el('p', { class: 'call-label' });
    this.map = el('div', { class: `figure-map ${this.subject.kind}-map` });
    this.question = el('p', { class: 'question', hidden: true });
    this.verdictBox = el('p', { class: 'verdict', role: 'status' });
    this.caption = el('figcaption', { class: 'caption', 'aria-live': 'polite' });
    this.changes = el('p', { class: 'changes' });
    this.hex = el('div', { class: 'hex-view', role: 'img' });
    this.counterList = el('dl', { class: 'figure-counters' });
    const figure = el('figure', {
      class: 'live-figure', id: `figure-${id}`, 'data-figure': id, tabindex: -1,
      'aria-label': this.spec.title,
    },
    el('p', { class: 'figure-title', 'aria-hidden': 'true' }, this.spec.title),
    el('div', { class: 'timeline', role: 'group', 'aria-label': `${this.spec.title}: timeline` },
      this.prev, this.range, this.next, this.position),
    this.callsLabel, this.caption, this.question, this.verdictBox, this.map,
    el('div', { class: 'figure-bytes' },
      el('div', {}, this.hex, byteKey(this.subject.kind), this.changes),
      this.counterList));

    this.range.addEventListener('input', () => this.goTo(Number(this.range.value), { user: true }));
    this.prev.addEventListener('click', () => this.goTo(this.step - 1, { user: true }));
    this.next.addEventListener('click', () => this.goTo(this.step + 1, { user: true }));
    figure.addEventListener('keydown', (event) => {
      if (event.target === this.range || event.target instanceof HTMLTextAreaElement ||
        event.target instanceof HTMLInputElement) return; // the slider has these keys itself
      const to = { ArrowLeft: this.step - 1, ArrowRight: this.step + 1, Home: 0, End: this.last }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      this.goTo(to, { user: true });
    });
    this.map.addEventListener('click', (event) => {
      const block = event.target.closest('button[data-index]');
      if (block && !block.disabled) this.answer(Number(block.dataset.index));
    });
    return figure;
  }

  /** Replaces the program (the playground's own calls) and goes back to step 0; `ask`: the
   * call indices before which the reader is asked to predict (none if left out). */
  setCalls(calls, sentences, ask = []) {
    this.calls = calls;
    this.spec.sentences = sentences;
    this.ask = onlyAllocs(ask, calls);
    this.range.max = this.last;
    this.goTo(0);
  }

  /** Makes the instance fresh: the state at step 0. */
  restart() {
    this.subject.fresh();
    this.names = new Map();
    /** address → the name the program gave it (the latest, while it is allocated). */
    this.labels = new Map();
    /** What each call did so far: one outcome per step the instance has run. */
    this.outcomes = [];
  }

  /**
   * Brings the instance to step `k` and returns the region's bytes before the last call and
   * after it. Forward moves run only the calls in between on the instance as it is (a
   * program of hundreds of calls plays one call per step, not hundreds); a move back
   * replays the first `k` calls on a fresh instance. Either way the state at step k is the
   * first k calls of the real allocator, never the path the reader took.
   */
  replay(k) {
    if (!this.outcomes || k < this.outcomes.length || this.calls !== this.ranCalls) {
      this.restart();
      this.ranCalls = this.calls;
      this.lastRun = { before: null, expected: null };
    }
    for (let i = this.outcomes.length; i < k; i++) {
      const before = i === k - 1 ? this.bytes().slice() : null;
      const expected = i === k - 1 && this.ask.has(i) ? this.subject.nextAlloc?.(this.calls[i]) ?? null : null;
      this.outcomes.push(this.run(this.calls[i]));
      this.lastRun = { before, expected };
    }
    // The bytes before the last call (and the answer to a question before it) are kept from
    // when it ran, so landing again on the same step redraws the same marks.
    this.expected = this.lastRun.expected;
    return { before: k ? this.lastRun.before : null, after: this.bytes() };
  }

  /** The region's bytes, viewed (not copied) in linear memory. */
  bytes() {
    const { base, length } = this.subject.region();
    return new Uint8Array(this.wasm.wasmMemory().buffer, base, length);
  }

  run(call) {
    const subject = this.subject;
    try {
      // A call of its own kind (a figure's special step, such as a write after free).
      if (call.run) return call.run(subject, this.names);
      if (call.op === 'alloc') {
        // Which block it will be, and why, read from the allocator before the call; the block
        // it was is read from what the call returned.
        // (Optional for a subject: one without nextAlloc and servedBy only cannot ask.)
        const expected = subject.nextAlloc?.(call) ?? {};
        const address = subject.alloc(call.size);
        // A name given again drops the block it named: nothing points at that block now.
        const old = call.name && this.names.get(call.name);
        if (old !== undefined && this.labels.get(old) === call.name) this.labels.set(old, 'lost');
        if (call.name) this.names.set(call.name, address);
        if (address === undefined) return { ok: false, text: `${call.text} → null`, detail: 'alloc found no free block large enough and returned nothing (null).' };
        if (call.name) this.labels.set(address, call.name);
        return { ok: true, text: `${call.text} → ${hex(address)}`, address, block: subject.servedBy?.(address, expected), why: expected.why };
      }
      if (call.op === 'free') {
        const base = call.address ?? this.names.get(call.name);
        if (base === undefined) return { ok: false, text: `${call.text}: skipped`, detail: `${call.name} is null (its alloc failed), and free(null) does nothing` };
        const address = base + (call.offset ?? 0);
        const shown = call.address === undefined ? `${call.text} = free(${hex(address)})` : call.text;
        subject.free(address);
        this.labels.delete(address);
        return { ok: true, text: shown, address };
      }
      return { ok: true, text: call.text, detail: `The program ended with ${subject.end()}.` };
    } catch (error) {
      return { ok: false, refused: true, text: `${call.text}: refused`, detail: error.message };
    }
  }

  /** Moves the timeline to step `k` (clamped) and redraws. */
  goTo(k, { user = false } = {}) {
    const step = Math.max(0, Math.min(this.last, Number.isInteger(k) ? k : 0));
    if (user) this.verdict = null;
    this.step = step;
    const { before, after } = this.replay(step);
    this.render(before, after);
    if (user) this.spec.onStep?.(this);
  }

  /** The reader picked block `index` as the one alloc() will hand out: run it and say. The
   * verdict compares the guess with what the real call returned. */
  answer(index) {
    if (!this.ask.has(this.step)) return;
    const asked = this.step;
    this.goTo(asked + 1, { user: true });
    const { block: actual } = this.outcomes[asked];
    const why = this.expected?.why ?? '';
    const right = actual === index;
    const served = actual === undefined ? 'nothing' : `block ${actual}`;
    this.verdict = { right, text: right
      ? `Right: alloc() handed out ${served}, because ${why}`
      : `Not this time: you picked block ${index}, but alloc() handed out ${served}, because ${why}` };
    this.drawVerdict();
  }

  drawVerdict() {
    this.verdictBox.className = `verdict${this.verdict ? (this.verdict.right ? ' right' : ' wrong') : ''}`;
    this.verdictBox.textContent = this.verdict?.text ?? '';
  }

  render(before, after) {
    const k = this.step;
    this.range.value = String(k);
    this.range.setAttribute('aria-valuetext', `step ${k} of ${this.last}${k ? `: ${this.outcomes[k - 1].text}` : ''}`);
    // A button that is disabled while it has the focus would drop it: hand it to the slider.
    const focused = document.activeElement;
    this.prev.disabled = k === 0;
    this.next.disabled = k === this.last;
    if ((focused === this.prev || focused === this.next) && focused.disabled) this.range.focus();
    this.position.textContent = `step ${k} of ${this.last}`;
    this.element.dataset.step = String(k);
    const { base, length } = this.subject.region();
    this.element.dataset.regionBase = String(base);
    this.element.dataset.regionLength = String(length);

    // previous · current · next call
    const previous = k >= 2 ? this.outcomes[k - 2].text : k === 1 ? 'start' : '';
    const current = k ? this.outcomes[k - 1] : null;
    const coming = k < this.last ? this.calls[k].text : 'the end';
    this.callsLabel.replaceChildren(
      el('span', { class: 'call-prev' }, previous ? `${previous} ←` : ''),
      el('strong', { class: `call-now${current && !current.ok ? ' refused' : ''}` }, current ? current.text : 'the start: nothing has run yet'),
      el('span', { class: 'call-next' }, `→ next: ${coming}`));

    const sentences = this.spec.sentences;
    const own = k === 0 ? this.spec.intro : typeof sentences === 'function' ? sentences(k - 1, current) : sentences[k - 1];
    const detail = current?.detail ? ` ${current.refused ? 'The allocator says: ' : ''}${current.detail}${current.refused ? '.' : ''}` : '';
    const changedText = this.describeChanges(before, after);
    this.caption.textContent = `Step ${k} of ${this.last}. ${own ?? ''}${detail}`;
    this.changes.textContent = k === 0 ? 'Nothing has run yet.' : changedText;

    const asking = this.ask.has(k);
    this.question.hidden = !asking;
    this.question.textContent = asking ? this.subject.question?.(this.calls[k]) ?? 'Have a think: which block will alloc() hand out now? Click it.' : '';
    this.element.classList.toggle('asking', asking);
    this.drawVerdict();

    this.subject.draw(this.map, { labels: this.labels, asking });
    if (this.subject.kind === 'pool') drawFreeListLinks(this.map);
    this.drawHex(before, after);
    this.counterList.replaceChildren(...this.subject.counters().map(([name, term, value]) =>
      el('div', { class: 'counter' }, el('dt', {}, term), el('dd', { 'data-counter': name }, String(value)))));
  }

  /** The changed runs of bytes, as one sentence. */
  describeChanges(before, after) {
    if (!before) return '';
    const runs = changedRuns(before, after, this.subject.region().base, (address) => this.subject.byteAt(address));
    if (runs.length === 0) return 'No byte of the region changed.';
    // Two runs in one word (a link whose middle byte kept its value) are one thing changed.
    const parts = new Set(runs.map((run) => this.subject.describeRun(run, before, after, this.subject.region().base)));
    const count = runs.reduce((n, run) => n + run.length, 0);
    return `This call changed ${plural(count, 'byte')} (marked in the hex view): ${[...parts].join('; ')}.`;
  }

  drawHex(before, after) {
    const { base } = this.subject.region();
    const rows = [];
    const changed = new Set();
    if (before) for (let i = 0; i < after.length; i++) if (before[i] !== after[i]) changed.add(i);
    // Rows of 00 that the last call did not write say nothing: a run of them (or any row of
    // zero padding in the metadata) is folded into one line, so the bytes that matter fit.
    const lines = [];
    for (let offset = 0; offset < after.length; offset += 8) {
      const kinds = [];
      let zero = true;
      for (let i = offset; i < Math.min(offset + 8, after.length); i++) {
        const kind = this.subject.byteAt(base + i).kind;
        kinds.push(kind);
        if (after[i] !== 0 || changed.has(i) || kind === 'state') zero = false;
      }
      lines.push({ offset, kinds, zero, meta: kinds.every((kind) => kind === 'meta') });
    }
    const fold = (run) => {
      if (run.length >= 2 || (run.length === 1 && run[0].meta)) {
        const bytes = run.length * 8;
        const what = run.every((line) => line.meta) ? ' (padding and unused metadata)' : '';
        rows.push(el('div', { class: 'hex-row skipped' }, `… ${bytes} bytes of 00${what} …`));
      } else run.forEach(drawRow);
    };
    const drawRow = ({ offset, kinds }) => rows.push(el('div', { class: 'hex-row' },
      el('span', { class: 'hex-addr' }, hex(base + offset)),
      kinds.map((kind, j) => {
        const i = offset + j;
        return el('span', {
          class: `byte k-${kind}${changed.has(i) ? ' changed' : ''}`, 'data-offset': i,
        }, byteHex(after[i]));
      })));
    let run = [];
    for (const line of lines) {
      if (line.zero && (run.length === 0 || run[0].meta === line.meta)) { run.push(line); continue; }
      fold(run);
      run = line.zero ? [line] : [];
      if (!line.zero) drawRow(line);
    }
    fold(run);
    this.hex.setAttribute('aria-label', `The region's bytes in hex, ${plural(after.length, 'byte')} from ${hex(base)}; ` +
      `${plural(changed.size, 'byte')} changed by the last call`);
    this.hex.replaceChildren(...rows);
  }
}

/** The steps to ask at: only before an alloc (the question is which block it hands out). */
function onlyAllocs(ask = [], calls = []) {
  return new Set(ask.filter((index) => calls[index]?.op === 'alloc'));
}

/** What the colours of the hex view mean, in words. */
function byteKey(kind) {
  const kinds = kind === 'pool'
    ? [['k-state', 'state byte'], ['k-meta', 'metadata'], ['k-link', 'free-list link']]
    : [['k-header', 'header'], ['k-link', 'free-list link']];
  return el('ul', { class: 'byte-key', 'aria-label': 'Key to the bytes' },
    [...kinds, ['changed', 'written by this step\'s call']].map(([name, text]) =>
      el('li', {}, el('span', { class: `byte ${name}`, 'aria-hidden': 'true' }, '00'), ` ${text}`)));
}

/** Runs of consecutive changed bytes that belong to the same part of the region. */
function changedRuns(before, after, base, byteAt) {
  const runs = [];
  let run = null;
  for (let i = 0; i < after.length; i++) {
    if (before[i] === after[i]) { run = null; continue; }
    const where = byteAt(base + i);
    const key = `${where.kind}:${where.index ?? where.block?.address ?? ''}`;
    if (run && run.key === key && run.start + run.length === base + i && where.kind !== 'state') run.length += 1;
    else {
      run = { start: base + i, length: 1, key };
      runs.push(run);
    }
  }
  return runs;
}
