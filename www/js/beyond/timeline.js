// The timeline of a section with a view of its own (the trace's charts, the heat map), made
// like every figure's: a slider whose name says "step", ◀/▶ buttons, the step count, and a
// label with the previous, current and next call. `onMove(k)` is called with the step the
// reader asked for; `show` draws where the section is.

import { el } from '../format.js';

export function timeline(title, id, onMove) {
  const range = el('input', { type: 'range', min: 0, max: 0, step: 1, value: 0, class: 'step-range',
    id: `figure-${id}-range`, 'aria-label': `${title}: step`, disabled: true });
  const prev = el('button', { type: 'button', class: 'step-prev', 'aria-label': `${title}: previous step`, disabled: true }, '◀');
  const next = el('button', { type: 'button', class: 'step-next', 'aria-label': `${title}: next step`, disabled: true }, '▶');
  const position = el('span', { class: 'step-count', 'aria-hidden': 'true' }, 'step 0 of 0');
  const calls = el('p', { class: 'call-label' });
  let step = 0;
  range.addEventListener('input', () => onMove(Number(range.value)));
  prev.addEventListener('click', () => onMove(step - 1));
  next.addEventListener('click', () => onMove(step + 1));
  return {
    range,
    bar: el('div', { class: 'timeline', role: 'group', 'aria-label': `${title}: timeline` }, prev, range, next, position),
    calls,
    /** Step `k` of `last`; `text(i)` names call `i`, `start` is step 0's, `end` what follows the last. */
    show(k, last, text, { start, end }) {
      step = k;
      range.disabled = false;
      range.max = String(last);
      range.value = String(k);
      const now = k ? text(k - 1) : null;
      range.setAttribute('aria-valuetext', `step ${k} of ${last}${now ? `: ${now}` : ''}`);
      // A button that is disabled while it has the focus would drop it: hand it to the slider.
      const focused = document.activeElement;
      prev.disabled = k === 0;
      next.disabled = k === last;
      if ((focused === prev || focused === next) && focused.disabled) range.focus();
      position.textContent = `step ${k} of ${last}`;
      calls.replaceChildren(
        el('span', { class: 'call-prev' }, k >= 2 ? `${text(k - 2)} ←` : k === 1 ? 'start ←' : ''),
        el('strong', { class: 'call-now' }, now ?? start),
        el('span', { class: 'call-next' }, `→ next: ${k < last ? text(k) : end}`));
    },
  };
}
