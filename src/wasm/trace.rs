//! `TraceReplay` for JavaScript: a recorded allocation trace ([`crate::trace`]) replayed on
//! the teaching heap and on the size classes, for the page's "A real program's heap".
//!
//! ```js
//! const bytes = new Uint8Array(await (await fetch('trace/readme.trace')).arrayBuffer());
//! const replay = new TraceReplay(bytes);   // throws Error for bytes that are not a trace
//! replay.series();                         // Float64Array: SERIES numbers per step 0..=length
//! replay.seek(120);                        // the real allocators after the first 120 events
//! replay.requested; replay.heapReserved;   // … what they hold now
//! replay.heapBlocks();                     // Uint32Array [offset, size, used] of the heap
//! replay.events();                         // Uint32Array [kind, a, b] per event
//! replay.destroy();
//! ```
//!
//! `series()` runs the whole trace once on fresh allocators and notes, after every event,
//! [`SERIES`] numbers in this order: requested, peak requested, heap reserved, heap free,
//! heap largest free, heap blocks searched, heap failed, classes reserved, classes held.
//! `seek(k)` replays to step `k` (from the start if `k` is behind), so the state shown at a
//! step is the allocators' own, however the reader got there.

use std::vec::Vec;

use js_sys::{Error, Float64Array, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;

use super::{install_panic_hook, js_error, to_usize};
use crate::trace::{Replay, ReplayCounters, Trace, TraceEvent, REPLAY_HEAP_BYTES};

/// How many numbers `series()` gives per step.
pub const SERIES: usize = 9;

/// A trace and a replay of it, exported to JavaScript as `TraceReplay`.
#[wasm_bindgen(js_name = TraceReplay)]
#[derive(Debug)]
pub struct JsTraceReplay {
    trace: Trace,
    /// `None` once destroyed (or if a replay could not be made).
    replay: Option<Replay>,
}

#[wasm_bindgen(js_class = TraceReplay)]
impl JsTraceReplay {
    /// `new TraceReplay(bytes)`: reads an encoded trace and starts a replay at step 0, on a
    /// heap of 256 KiB.
    ///
    /// # Errors
    ///
    /// Bytes that are not a trace (with where and why), or no memory for the allocators.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &Uint8Array) -> Result<JsTraceReplay, Error> {
        install_panic_hook();
        let trace = Trace::decode(&bytes.to_vec()).map_err(js_error)?;
        let replay = Replay::new(&trace, REPLAY_HEAP_BYTES).map_err(js_error)?;
        Ok(JsTraceReplay {
            trace,
            replay: Some(replay),
        })
    }

    /// The counters after every step `0..=length` of a full replay on fresh allocators,
    /// `SERIES` numbers per step (see the module docs).
    ///
    /// # Errors
    ///
    /// No memory for the allocators.
    pub fn series(&self) -> Result<Float64Array, Error> {
        let mut replay = Replay::new(&self.trace, REPLAY_HEAP_BYTES).map_err(js_error)?;
        let mut out = Vec::with_capacity((self.trace.events().len() + 1) * SERIES);
        push_counters(&mut out, &replay.counters());
        while replay.step(&self.trace) {
            push_counters(&mut out, &replay.counters());
        }
        Ok(Float64Array::from(&out[..]))
    }

    /// `seek(step)`: the allocators as the first `step` events leave them (at most `length`).
    ///
    /// # Errors
    ///
    /// A bad number, a destroyed replay, or no memory for fresh allocators.
    pub fn seek(&mut self, step: f64) -> Result<(), Error> {
        let step = to_usize(step, "step")?.min(self.trace.events().len());
        let behind = self.replay()?.position() > step;
        if behind {
            // Drop the old allocators first, so that the new ones reuse their memory.
            self.replay = None;
            self.replay = Some(Replay::new(&self.trace, REPLAY_HEAP_BYTES).map_err(js_error)?);
        }
        let replay = self.replay.as_mut().ok_or_else(destroyed)?;
        while replay.position() < step && replay.step(&self.trace) {}
        Ok(())
    }

    /// The counters now, in the order of `series()`.
    pub fn counters(&self) -> Result<Float64Array, Error> {
        let mut out = Vec::with_capacity(SERIES);
        push_counters(&mut out, &self.replay()?.counters());
        Ok(Float64Array::from(&out[..]))
    }

    /// The teaching heap's blocks now: `[offset from its start, size, used (0/1)]` each.
    #[wasm_bindgen(js_name = heapBlocks)]
    pub fn heap_blocks(&self) -> Result<Uint32Array, Error> {
        let heap = self.replay()?.heap();
        let start = heap.start();
        let flat: Vec<u32> = heap
            .blocks()
            .flat_map(|block| {
                [
                    (block.addr - start) as u32,
                    block.size as u32,
                    u32::from(block.used),
                ]
            })
            .collect();
        Ok(Uint32Array::from(&flat[..]))
    }

    /// The events, three numbers each: an alloc `0, size, align`, a free `1, block, 0`, a
    /// realloc `2, block, new size` (blocks are numbered in the order they were allocated).
    pub fn events(&self) -> Uint32Array {
        let flat: Vec<u32> = self
            .trace
            .events()
            .iter()
            .flat_map(|event| match *event {
                TraceEvent::Alloc { size, align } => [0, size as u32, align as u32],
                TraceEvent::Free { block } => [1, block as u32, 0],
                TraceEvent::Realloc { block, new_size } => [2, block as u32, new_size as u32],
            })
            .collect();
        Uint32Array::from(&flat[..])
    }

    /// `destroy()`: releases the allocators; later calls throw.
    pub fn destroy(&mut self) {
        self.replay = None;
    }
}

impl JsTraceReplay {
    fn replay(&self) -> Result<&Replay, Error> {
        self.replay.as_ref().ok_or_else(destroyed)
    }
}

fn push_counters(out: &mut Vec<f64>, c: &ReplayCounters) {
    out.extend_from_slice(&[
        c.requested as f64,
        c.peak_requested as f64,
        c.heap.reserved as f64,
        c.heap.free as f64,
        c.heap.largest_free as f64,
        c.heap.searched as f64,
        c.heap.failed as f64,
        c.classes.reserved as f64,
        c.classes.held as f64,
    ]);
}

fn destroyed() -> Error {
    js_error("this replay was destroyed; create a new TraceReplay to go on")
}
