// Issue 18's sections of the story: what only a real allocator in the browser can show.
// `FIGURES` are live figures of the usual shape (figure.js: calls + a timeline); `WIDGETS` are
// sections with a view of their own (a chart over a recorded trace, a canvas heat map), each
// a function `(wasm) => element` that main.js puts where the README says
// `<!-- figure: NAME -->`.

import { useAfterFreeFigure } from './use-after-free.js';
import { traceWidget } from './trace.js';
import { millionWidget } from './million.js';
import { ownHeapWidget } from './own-heap.js';

export const FIGURES = {
  'use-after-free': useAfterFreeFigure,
};

export const WIDGETS = {
  trace: traceWidget,
  million: millionWidget,
  'page-heap': ownHeapWidget,
};
