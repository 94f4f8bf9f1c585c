// Scripted workloads that play step by step, with a sentence per step. A step is replayed
// from the scenario's start, so "previous" and a shared link (?scenario=…&step=…) always
// show exactly the state that step describes.

const SHORT_LIVED = {
  id: 'short-lived',
  title: 'Many short-lived objects',
  intro: 'A server handles requests. Each needs a couple of small objects for a moment, then ' +
    'drops them. Here they come from a pool of 8 blocks of 32 bytes. Press Next.',
  setup: (c) => c.create(32, 8),
  steps: [
    ['Request 1 needs a 24-byte message: alloc takes the first never-used block.',
      (c) => c.alloc('message1', 24)],
    ['…and a 32-byte reply: the next never-used block. Nothing was searched.',
      (c) => c.alloc('reply1', 32)],
    ['Request 1 is done; its message is freed. That block goes on the free list and is its head.',
      (c) => c.free('message1')],
    ['The reply is freed too, and becomes the new head: the free list is a stack, last in, first out.',
      (c) => c.free('reply1')],
    ['Request 2 arrives. alloc pops the head: the block freed last, the one most likely still in the CPU cache.',
      (c) => c.alloc('message2', 24)],
    ['Its reply takes the next block on the free list. Request 2 touched no new memory at all.',
      (c) => c.alloc('reply2', 32)],
    ['Request 2 is done: both freed. The reply went last, so its block is the head now.',
      (c) => { c.free('message2'); c.free('reply2'); }],
    ['Requests 3 and 4 overlap: four objects at once. The free list serves the first two, never-used blocks the rest.',
      (c) => { c.alloc('message3', 24); c.alloc('reply3', 32); c.alloc('message4', 20); c.alloc('reply4', 32); }],
    ['Everything is freed. However long this runs, it needs only as many blocks as the peak of live objects, and every alloc and free was O(1).',
      (c) => ['message3', 'reply3', 'message4', 'reply4'].forEach((name) => c.free(name))],
  ],
};

const LEAK = {
  id: 'leak',
  title: 'A leak',
  intro: 'A loop handles one request per step: it allocates a buffer and a result, frees the ' +
    'buffer… and forgets the result. Watch "in use".',
  setup: (c) => c.create(16, 10),
  steps: [1, 2, 3, 4].map((n) => [
    `Request ${n}: alloc a buffer, alloc a result, free the buffer. The result's block stays in use: ${n} forgotten so far.`,
    (c) => { c.alloc(`buffer${n}`, 16); c.alloc(`result${n}`, 12); c.free(`buffer${n}`); },
  ]).concat([
    ['The program ends. The pool knows exactly which blocks were never freed: these are the leaks.',
      (c) => c.endProgram()],
  ]),
};

const MISUSE = {
  id: 'misuse',
  title: 'Misuse, caught',
  intro: 'In C, freeing the wrong pointer is undefined behaviour: the heap may be silently ' +
    'corrupted. This pool checks every free and refuses misuse, changing nothing.',
  setup: (c) => c.create(32, 6),
  steps: [
    ['Two objects are allocated.', (c) => { c.alloc('a', 32); c.alloc('b', 16); }],
    ['a is freed: fine.', (c) => c.free('a')],
    ['a is freed again: a double free. The pool reads a\'s state byte (free) and refuses. The map is unchanged.',
      (c) => c.free('a')],
    ['A pointer 8 bytes into b is freed: not the start of a block, refused with the offset.',
      (c) => c.freeAddress(() => c.address('b') + 8)],
    ['The address of the pool\'s own metadata is freed: not a block at all, refused.',
      (c) => c.freeAddress((pool) => pool.statesAddress)],
    ['b is freed properly: accepted. Three frees were refused and nothing was damaged.',
      (c) => c.free('b')],
  ],
};

export const SCENARIOS = [SHORT_LIVED, LEAK, MISUSE];

/** Plays one scenario at a time on the playground. (Pool vs heap has its own timeline.) */
export class ScenarioPlayer {
  /** `actions` performs the steps (see main.js); `onUpdate` redraws the page. */
  constructor(actions, onUpdate) {
    this.actions = actions;
    this.onUpdate = onUpdate;
    this.scenario = SCENARIOS[0];
    this.step = 0;
    this.timer = null;
  }

  get last() {
    return this.scenario.steps.length;
  }

  get text() {
    return this.step === 0 ? this.scenario.intro : this.scenario.steps[this.step - 1][0];
  }

  load(id, step = 0, { updateUrl = true } = {}) {
    this.scenario = SCENARIOS.find((s) => s.id === id) ?? SCENARIOS[0];
    this.goTo(step, { updateUrl });
  }

  /** Replays the scenario from its start up to `step`. */
  goTo(step, { updateUrl = true } = {}) {
    const target = Math.max(0, Math.min(this.last, Number.isInteger(step) ? step : 0));
    this.actions.replay(() => {
      this.scenario.setup(this.actions);
      for (let i = 0; i < target; i++) this.scenario.steps[i][1](this.actions);
    });
    this.step = target;
    if (updateUrl) {
      const params = new URLSearchParams(location.search);
      params.set('scenario', this.scenario.id);
      params.set('step', String(this.step));
      history.replaceState(null, '', `?${params}${location.hash}`);
    }
    if (this.step === this.last) this.pause();
    this.onUpdate();
  }

  next() {
    if (this.step < this.last) this.goTo(this.step + 1);
  }

  previous() {
    if (this.step > 0) this.goTo(this.step - 1);
  }

  get playing() {
    return this.timer !== null;
  }

  play() {
    if (this.playing) return;
    if (this.step === this.last) this.goTo(0);
    this.timer = setInterval(() => this.next(), 1600);
    this.onUpdate();
  }

  pause() {
    if (!this.playing) return;
    clearInterval(this.timer);
    this.timer = null;
    this.onUpdate();
  }
}
