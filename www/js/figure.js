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
    this.ask = new Set(spec.ask ?? []);
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
      const block = event.target.closest('button.block');
      if (block && !block.disabled) this.answer(Number(block.dataset.index));
    });
    return figure;
  }

  /** Replaces the program (the playground's own calls) and goes back to step 0. */
  setCalls(calls, sentences) {
    this.calls = calls;
    this.spec.sentences = sentences;
    this.range.max = this.last;
    this.goTo(0);
  }

  /** Replays the first `k` calls on a fresh instance; returns the region's bytes before the
   * last of them and after it. */
  replay(k) {
    this.subject.fresh();
    this.names = new Map();
    /** address → the name the program gave it (the latest, while it is allocated). */
    this.labels = new Map();
    this.outcomes = [];
    let before = null;
    for (let i = 0; i < k; i++) {
      if (i === k - 1) before = this.bytes().slice();
      if (i === k - 1 && this.ask.has(i)) this.expected = this.subject.nextAlloc();
      this.outcomes.push(this.run(this.calls[i]));
    }
    return { before, after: this.bytes() };
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
        const address = subject.alloc(call.size);
        if (call.name) this.names.set(call.name, address);
        if (address === undefined) return { ok: false, text: `${call.text} → null`, detail: 'alloc found no free block large enough and returned nothing (null).' };
        if (call.name) this.labels.set(address, call.name);
        return { ok: true, text: `${call.text} → ${hex(address)}`, address };
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
    this.expected = null;
    const { before, after } = this.replay(step);
    this.render(before, after);
    if (user) this.spec.onStep?.(this);
  }

  /** The reader picked block `index` as the one alloc() will hand out: run it and say. */
  answer(index) {
    if (!this.ask.has(this.step)) return;
    const asked = this.step;
    this.goTo(asked + 1, { user: true });
    const { index: actual, why } = this.expected ?? {};
    const right = actual === index;
    this.verdict = { right, text: right
      ? `Right: alloc() handed out block ${actual}, because ${why}.`
      : `Not this time: you picked block ${index}, but alloc() handed out ${actual === undefined ? 'nothing' : `block ${actual}`}, because ${why}.` };
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
    this.question.textContent = asking
      ? 'Have a think: which block will alloc() hand out now? Click it (or press ▶ to just see).' : '';
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
    let skipped = 0;
    for (let offset = 0; offset < after.length; offset += 8) {
      const kinds = [];
      let quiet = true;
      for (let i = offset; i < Math.min(offset + 8, after.length); i++) {
        const kind = this.subject.byteAt(base + i).kind;
        kinds.push(kind);
        if (kind !== 'meta' || after[i] !== 0 || changed.has(i)) quiet = false;
      }
      // Rows of untouched zero padding in the metadata say nothing: fold them into one line.
      if (quiet) { skipped += 8; continue; }
      if (skipped) { rows.push(el('div', { class: 'hex-row skipped' }, `… ${skipped} bytes of 00 (padding and unused metadata) …`)); skipped = 0; }
      rows.push(el('div', { class: 'hex-row' },
        el('span', { class: 'hex-addr' }, hex(base + offset)),
        kinds.map((kind, j) => {
          const i = offset + j;
          return el('span', {
            class: `byte k-${kind}${changed.has(i) ? ' changed' : ''}`, 'data-offset': i,
          }, byteHex(after[i]));
        })));
    }
    if (skipped) rows.push(el('div', { class: 'hex-row skipped' }, `… ${skipped} bytes of 00 …`));
    this.hex.setAttribute('aria-label', `The region's bytes in hex, ${plural(after.length, 'byte')} from ${hex(base)}; ` +
      `${plural(changed.size, 'byte')} changed by the last call`);
    this.hex.replaceChildren(...rows);
  }
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
