// Wiring: loads the WebAssembly module, creates the playground, the comparison and the
// scenario player, connects the controls, and redraws after every operation.

import init, * as wasm from '../pkg/memory_pool.js';
import { Playground, LIMITS } from './playground.js';
import { drawPoolMap, drawFreeListLinks, describeFreeList } from './map.js';
import { drawCounters, drawMessage, drawHex } from './panels.js';
import { Comparison, drawComparison } from './compare.js';
import { SCENARIOS, ScenarioPlayer } from './scenarios.js';
import { showReadme } from './explain.js';

const $ = (selector) => document.querySelector(selector);

async function start() {
  showReadme($('#explanation'));
  await init();

  let quiet = false;
  const playground = new Playground(wasm, () => quiet || render());
  const comparison = new Comparison(wasm);
  const compareElements = {
    op: $('#compare-op'), pool: $('#compare-pool'), heap: $('#compare-heap'),
    chart: $('#compare-chart'), step: $('#compare-step'), run: $('#compare-run'),
  };

  function render() {
    const pool = playground.pool;
    drawMessage($('#message'), playground.message);
    // Redrawing replaces the blocks: keep the keyboard focus on the same block.
    const focused = document.activeElement?.closest?.('#pool-map button.block')?.dataset.index;
    drawPoolMap($('#pool-map'), playground);
    if (focused !== undefined) $(`#pool-map button.block[data-index="${focused}"]`)?.focus();
    $('#free-list-text').textContent = describeFreeList(pool);
    drawCounters($('#counters'), playground);
    drawHex($('#hex'), playground);
    const request = $('#request-size');
    if (pool) request.max = pool.blockSize;
    const select = $('#write-block');
    const states = pool ? pool.blockStates() : [];
    select.replaceChildren(...[...states].map((state, index) => {
      const option = new Option(`block ${index} (${['never used', 'free', 'in use'][state]})`, index);
      option.selected = index === playground.selected;
      return option;
    }));
    for (const id of ['#alloc', '#write', '#misuse-double', '#misuse-outside', '#misuse-middle', '#end-program']) {
      $(id).disabled = !pool || playground.ended;
    }
    drawComparison(compareElements, comparison);
  }

  // Names that scenarios use for the objects they allocate.
  const names = new Map();
  const actions = {
    create: (size, count) => {
      names.clear();
      $('#block-size').value = size;
      $('#block-count').value = count;
      playground.create(size, count);
    },
    alloc: (name, size) => names.set(name, playground.alloc(size)),
    free: (name) => playground.free(names.get(name)),
    address: (name) => names.get(name),
    freeAddress: (pick) => playground.free(pick(playground.pool)),
    endProgram: () => playground.endProgram(),
    compareReset: () => comparison.reset(),
    compareRun: (count) => { for (let i = 0; i < count; i++) comparison.next(); },
    replay: (steps) => {
      quiet = true;
      try { steps(); } finally { quiet = false; }
      render();
    },
  };

  const player = new ScenarioPlayer(actions, () => {
    $('#scenario-select').value = player.scenario.id;
    $('#scenario-text').textContent = player.text;
    $('#scenario-progress').textContent = `Step ${player.step} of ${player.last}`;
    $('#scenario-prev').disabled = player.step === 0;
    $('#scenario-next').disabled = player.step === player.last;
    const play = $('#scenario-play');
    play.textContent = player.playing ? '⏸ Pause' : '▶ Play';
    play.setAttribute('aria-pressed', String(player.playing));
  });

  // Controls.
  $('#create-form').addEventListener('submit', (event) => {
    event.preventDefault();
    try {
      actions.create(Number($('#block-size').value), Number($('#block-count').value));
    } catch (error) {
      playground.say('error', error.message);
    }
  });
  $('#alloc-form').addEventListener('submit', (event) => {
    event.preventDefault();
    playground.alloc(Number($('#request-size').value));
  });
  $('#write-form').addEventListener('submit', (event) => {
    event.preventDefault();
    playground.write(Number($('#write-block').value), $('#write-value').value);
  });
  $('#write-block').addEventListener('change', () => {
    playground.selected = Number($('#write-block').value);
    render();
  });
  $('#misuse-double').addEventListener('click', () => playground.misuseDoubleFree());
  $('#misuse-outside').addEventListener('click', () => playground.misuseOutside());
  $('#misuse-middle').addEventListener('click', () => playground.misuseMiddle());
  $('#end-program').addEventListener('click', () => playground.endProgram());
  $('#pool-map').addEventListener('click', (event) => {
    const block = event.target.closest('button.block');
    if (block) playground.freeBlock(Number(block.dataset.index));
  });
  new ResizeObserver(() => drawFreeListLinks($('#pool-map'))).observe($('#pool-map'));

  $('#compare-step').addEventListener('click', () => { comparison.next(); render(); });
  $('#compare-run').addEventListener('click', () => { while (!comparison.done) comparison.next(); render(); });
  $('#compare-reset').addEventListener('click', () => { comparison.reset(); render(); });

  const select = $('#scenario-select');
  select.append(...SCENARIOS.map((s) => new Option(s.title, s.id)));
  select.addEventListener('change', () => { player.pause(); player.load(select.value); });
  $('#scenario-prev').addEventListener('click', () => { player.pause(); player.previous(); });
  $('#scenario-next').addEventListener('click', () => { player.pause(); player.next(); });
  $('#scenario-play').addEventListener('click', () => (player.playing ? player.pause() : player.play()));
  $('#scenarios').addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLSelectElement) return;
    if (event.key === 'ArrowRight') { player.pause(); player.next(); }
    if (event.key === 'ArrowLeft') { player.pause(); player.previous(); }
  });

  for (const [input, limit] of [['#block-size', LIMITS.blockSize], ['#block-count', LIMITS.blockCount]]) {
    $(input).min = limit.min;
    $(input).max = limit.max;
  }

  // A shared link opens its scenario at its step; otherwise the first scenario's start.
  const params = new URLSearchParams(location.search);
  if (params.has('scenario')) {
    player.load(params.get('scenario'), Number.parseInt(params.get('step') ?? '0', 10));
  } else {
    player.load(SCENARIOS[0].id, 0, { updateUrl: false });
  }
  $('#loading').remove();
  document.body.dataset.ready = 'true';
}

start().catch((error) => {
  const loading = $('#loading');
  loading.className = 'message error';
  loading.textContent = `The playground could not start: ${error.message}`;
  throw error;
});
