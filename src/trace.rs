//! Allocation traces: every `alloc`, `realloc` and `free` a real program made, stored
//! compactly and replayed on the teaching [`Heap`] and on [`SizeClasses`] (the page's
//! "A real program's heap").
//!
//! A [`Trace`] is a list of [`TraceEvent`]s. Each allocation is a *block*, numbered in the
//! order the program allocated them (`realloc` keeps the number: it is the same object, grown
//! or shrunk); a free names the block it frees. `examples/record_trace.rs` records one under a
//! recording `GlobalAlloc` and writes it with [`Trace::encode`] (`make trace`).
//!
//! # The format
//!
//! `MPTRACE2`, the number of events as a LEB128 varint, then per event one byte (its kind in
//! the low 2 bits: 0 alloc, 1 free, 2 realloc; for an alloc, log2 of its alignment in the next
//! 4) and varints: an alloc its size; a free how many blocks were allocated after the one it
//! frees (small: programs free recent objects first, so below 63 it is in the first byte's
//! upper 6 bits, plus one); a realloc that distance and the new size. A few thousand events
//! take a few kilobytes.
//!
//! # Replaying
//!
//! A [`Replay`] runs the events one by one on a fresh [`Heap`] and a fresh [`SizeClasses`]
//! and says what each holds ([`ReplayCounters`]). The heap serves sizes only (its blocks are
//! word-aligned whatever the trace asked) and has no `realloc` of its own: it allocates the
//! new size, then frees the old block, as a `malloc` without in-place growth does. The size
//! classes get the very calls the program made, `realloc` included.
//!
//! ```
//! use memory_pool::trace::{Replay, Trace, TraceEvent};
//!
//! let trace = Trace::new(vec![
//!     TraceEvent::Alloc { size: 20, align: 8 },
//!     TraceEvent::Realloc { block: 0, new_size: 40 },
//!     TraceEvent::Free { block: 0 },
//! ])?;
//! assert_eq!(Trace::decode(&trace.encode())?, trace);
//!
//! let mut replay = Replay::new(&trace, 4096)?;
//! replay.step(&trace);
//! let after_alloc = replay.counters();
//! assert_eq!(after_alloc.requested, 20);
//! assert_eq!(after_alloc.classes.reserved, 32); // the 32-byte class
//! while replay.step(&trace) {}
//! assert_eq!(replay.counters().requested, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ptr::NonNull;
use std::boxed::Box;
use std::vec::Vec;

use crate::teaching::{Heap, HeapError};
use crate::{SizeClasses, CLASS_SIZES};

/// The size of the teaching heap the page replays its trace on (and `tests/trace.rs` with
/// it): room for the README's story and its HTML at once, so that no request fails.
pub const REPLAY_HEAP_BYTES: usize = 256 * 1024;

/// The first bytes of an encoded trace.
const MAGIC: &[u8; 8] = b"MPTRACE2";

/// Frees of one of the last this many blocks allocated keep the distance in their first byte.
const SHORT_FREES: usize = 63;

/// The largest alignment a trace may ask for (2^15: 4 bits of log2).
const MAX_ALIGN_LOG2: u32 = 15;

/// One call a program made to its allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEvent {
    /// `alloc(size, align)`: a new block, numbered after every block allocated before it.
    Alloc {
        /// Bytes asked for (not 0).
        size: usize,
        /// Their alignment: a power of two.
        align: usize,
    },
    /// `free` of block `block`.
    Free {
        /// The block's number.
        block: usize,
    },
    /// `realloc` of block `block` to `new_size` bytes (same alignment).
    Realloc {
        /// The block's number; it keeps it.
        block: usize,
        /// Its new size (not 0).
        new_size: usize,
    },
}

/// Why a list of events or an encoded trace is not a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceError {
    /// The event (or, while reading the header, 0) where it went wrong.
    pub event: usize,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a valid trace: event {}: {}",
            self.event, self.problem
        )
    }
}

impl core::error::Error for TraceError {}

/// A program's allocations, frees and reallocations, in order; every free and realloc names
/// a block that is allocated at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    events: Vec<TraceEvent>,
    blocks: usize,
}

impl Trace {
    /// Checks `events` and makes them a trace.
    ///
    /// # Errors
    ///
    /// A size of 0, an alignment that is not a power of two up to 2^15 or whose layout
    /// overflows, a free or realloc of a block that is not allocated at that point.
    pub fn new(events: Vec<TraceEvent>) -> Result<Trace, TraceError> {
        let mut live: Vec<bool> = Vec::new();
        for (at, event) in events.iter().enumerate() {
            let fail = |problem| Err(TraceError { event: at, problem });
            match *event {
                TraceEvent::Alloc { size, align } => {
                    if size == 0 {
                        return fail("an allocation of 0 bytes");
                    }
                    if !align.is_power_of_two() || align.trailing_zeros() > MAX_ALIGN_LOG2 {
                        return fail("an alignment that is not a power of two up to 2^15");
                    }
                    if Layout::from_size_align(size, align).is_err() {
                        return fail("a size too large for any memory");
                    }
                    live.push(true);
                }
                TraceEvent::Free { block } | TraceEvent::Realloc { block, .. } => {
                    if !live.get(block).copied().unwrap_or(false) {
                        return fail("a free or realloc of a block that is not allocated");
                    }
                    match *event {
                        TraceEvent::Realloc { new_size, .. } => {
                            if new_size == 0 || new_size > isize::MAX as usize / 2 {
                                return fail("a realloc to 0 bytes or to a size too large");
                            }
                        }
                        _ => live[block] = false,
                    }
                }
            }
        }
        let blocks = live.len();
        Ok(Trace { events, blocks })
    }

    /// The events, in the order the program made them.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// How many blocks the program allocated (its `Alloc` events).
    pub fn block_count(&self) -> usize {
        self.blocks
    }

    /// The trace in the compact format (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 3 * self.events.len());
        out.extend_from_slice(MAGIC);
        push_varint(&mut out, self.events.len());
        let mut allocated = 0;
        for event in &self.events {
            match *event {
                TraceEvent::Alloc { size, align } => {
                    out.push((align.trailing_zeros() as u8) << 2);
                    push_varint(&mut out, size);
                    allocated += 1;
                }
                TraceEvent::Free { block } => {
                    let distance = allocated - 1 - block;
                    if distance < SHORT_FREES {
                        out.push(1 | ((distance as u8 + 1) << 2));
                    } else {
                        out.push(1);
                        push_varint(&mut out, distance);
                    }
                }
                TraceEvent::Realloc { block, new_size } => {
                    out.push(2);
                    push_varint(&mut out, allocated - 1 - block);
                    push_varint(&mut out, new_size);
                }
            }
        }
        out
    }

    /// Reads a trace in the compact format.
    ///
    /// # Errors
    ///
    /// Bytes that are not an encoded trace (no `MPTRACE2`, cut short, a number too large, an
    /// unknown kind of event), or events that do not make a trace (see [`Trace::new`]).
    pub fn decode(bytes: &[u8]) -> Result<Trace, TraceError> {
        let header = |problem| TraceError { event: 0, problem };
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(header("it does not start with MPTRACE2"))?;
        let mut reader = Reader { bytes: rest, at: 0 };
        let count = reader
            .varint()
            .ok_or(header("the event count is cut short"))?;
        // Every event takes at least a byte: a count larger than that is a lie, and must not
        // make us reserve memory for it.
        if count > rest.len() {
            return Err(header("it has fewer bytes than its event count needs"));
        }
        let mut events = Vec::with_capacity(count);
        let mut allocated: usize = 0;
        for at in 0..count {
            let fail = |problem| TraceError { event: at, problem };
            let kind = reader.byte().ok_or(fail("cut short"))?;
            let number = |reader: &mut Reader| {
                reader
                    .varint()
                    .ok_or(fail("cut short, or a number too large"))
            };
            let block = |distance: usize| {
                allocated.checked_sub(1 + distance).ok_or(fail(
                    "a free or realloc of a block that was never allocated",
                ))
            };
            let event = match kind & 3 {
                0 if kind >> 2 <= MAX_ALIGN_LOG2 as u8 => {
                    allocated += 1;
                    TraceEvent::Alloc {
                        align: 1 << (kind >> 2),
                        size: number(&mut reader)?,
                    }
                }
                1 => TraceEvent::Free {
                    block: block(match kind >> 2 {
                        0 => number(&mut reader)?,
                        short => usize::from(short - 1),
                    })?,
                },
                2 if kind == 2 => TraceEvent::Realloc {
                    block: block(number(&mut reader)?)?,
                    new_size: number(&mut reader)?,
                },
                _ => return Err(fail("an unknown kind of event")),
            };
            events.push(event);
        }
        if reader.at != rest.len() {
            return Err(header("it has bytes after its last event"));
        }
        Trace::new(events)
    }
}

fn push_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads bytes and LEB128 varints from an encoded trace.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// A varint of at most 32 bits (sizes and distances on every target).
    fn varint(&mut self) -> Option<usize> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return usize::try_from(value)
                    .ok()
                    .filter(|&v| v <= u32::MAX as usize);
            }
        }
        None
    }
}

/// What a [`Replay`] holds after the events it has run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayCounters {
    /// Events run so far.
    pub events: usize,
    /// Bytes the program has asked for and not freed: the sizes of its live blocks.
    pub requested: usize,
    /// The most bytes it ever had live at once.
    pub peak_requested: usize,
    /// The teaching heap's side.
    pub heap: HeapCounters,
    /// The size classes' side.
    pub classes: ClassesCounters,
}

/// The teaching heap during a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapCounters {
    /// Bytes of the heap in blocks in use, headers and rounding included.
    pub reserved: usize,
    /// Free bytes in total (whole free blocks).
    pub free: usize,
    /// The largest free block: `1 − largest_free / free` is its external fragmentation.
    pub largest_free: usize,
    /// Free blocks looked at by first fit, over every allocation so far.
    pub searched: u64,
    /// Allocations it could not serve (no hole large enough): their blocks are left out of
    /// the heap's side for the rest of the replay.
    pub failed: u64,
}

impl HeapCounters {
    /// External fragmentation: `1 − largest free block / free bytes` (0 when nothing is free).
    pub fn fragmentation(&self) -> f64 {
        if self.free == 0 {
            return 0.0;
        }
        1.0 - self.largest_free as f64 / self.free as f64
    }
}

/// The size classes during a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassesCounters {
    /// Bytes in blocks in use: each request rounded up to its class (or to whole pages).
    pub reserved: usize,
    /// Bytes the classes hold from the memory source: every block of their regions, in use
    /// or not, and the large blocks' pages.
    pub held: usize,
    /// Allocations the memory source could not serve.
    pub failed: u64,
}

impl ClassesCounters {
    /// Internal fragmentation, the share of the reserved bytes that rounding up added:
    /// `1 − requested / reserved` (0 when nothing is reserved).
    pub fn fragmentation(&self, requested: usize) -> f64 {
        if self.reserved == 0 {
            return 0.0;
        }
        1.0 - requested as f64 / self.reserved as f64
    }
}

/// One live block of the replayed program, in both allocators.
#[derive(Debug, Clone, Copy)]
struct LiveBlock {
    /// The size the program last asked for.
    size: usize,
    /// The size the size classes' block was allocated (or last reallocated) with: `size`,
    /// unless a realloc failed there.
    classes_size: usize,
    align: usize,
    heap: Option<NonNull<u8>>,
    /// Null if the size classes could not serve it.
    classes: *mut u8,
}

/// A trace being replayed, event by event, on a fresh [`Heap`] and a fresh [`SizeClasses`].
pub struct Replay {
    heap: Heap,
    /// Boxed: a `SizeClasses` holds every class's region slots inline (hundreds of KiB), too
    /// much to move around on a stack.
    classes: Box<SizeClasses>,
    live: Vec<Option<LiveBlock>>,
    next_block: usize,
    position: usize,
    requested: usize,
    peak_requested: usize,
    classes_failed: u64,
    /// Bit `c` is set once class `c` has served a request: only those classes are asked for
    /// their counters, because asking an untouched class makes it create its pool (a region
    /// of 1 MiB of address space natively, 32 KiB of linear memory on wasm32) on the spot.
    classes_used: u64,
}

impl Replay {
    /// A replay of `trace` at its start, on a heap of `heap_bytes` bytes and empty size
    /// classes.
    ///
    /// # Errors
    ///
    /// When the heap cannot be created.
    pub fn new(trace: &Trace, heap_bytes: usize) -> Result<Replay, HeapError> {
        let mut live = Vec::new();
        live.resize(trace.block_count(), None);
        Ok(Replay {
            heap: Heap::new(heap_bytes)?,
            classes: Box::new(SizeClasses::new()),
            live,
            next_block: 0,
            position: 0,
            requested: 0,
            peak_requested: 0,
            classes_failed: 0,
            classes_used: 0,
        })
    }

    /// How many events have run.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The teaching heap, as the events so far left it.
    pub fn heap(&self) -> &Heap {
        &self.heap
    }

    /// The size classes, as the events so far left them.
    pub fn classes(&self) -> &SizeClasses {
        &self.classes
    }

    /// Runs the next event of `trace` (the trace this replay was made for); `false` at its end.
    pub fn step(&mut self, trace: &Trace) -> bool {
        let Some(&event) = trace.events().get(self.position) else {
            return false;
        };
        self.position += 1;
        match event {
            TraceEvent::Alloc { size, align } => {
                let Some(slot) = self.live.get_mut(self.next_block) else {
                    return true; // not this replay's trace: nothing to do safely
                };
                self.next_block += 1;
                let heap = self.heap.alloc(size);
                // A valid trace has valid layouts; should one not be, the classes refuse it.
                let classes = match Layout::from_size_align(size, align) {
                    Ok(layout) if size > 0 => {
                        note_class(&mut self.classes_used, layout);
                        // SAFETY: the size is not 0 (a trace has no empty allocation).
                        unsafe { self.classes.alloc(layout) }
                    }
                    _ => core::ptr::null_mut(),
                };
                if classes.is_null() {
                    self.classes_failed += 1;
                }
                *slot = Some(LiveBlock {
                    size,
                    classes_size: size,
                    align,
                    heap,
                    classes,
                });
                self.requested += size;
            }
            TraceEvent::Free { block } => {
                let Some(live) = self.live.get_mut(block).and_then(Option::take) else {
                    return true;
                };
                self.requested -= live.size;
                self.release(live);
            }
            TraceEvent::Realloc { block, new_size } => {
                let Some(Some(live)) = self.live.get_mut(block) else {
                    return true;
                };
                let old = *live;
                // The heap: allocate the new size, then free the old block.
                let heap = match old.heap {
                    Some(old_block) => match self.heap.alloc(new_size) {
                        Some(new_block) => {
                            let _ = self.heap.free(old_block); // ours, in use: accepted
                            Some(new_block)
                        }
                        None => Some(old_block),
                    },
                    None => None,
                };
                let (classes, classes_size) = if old.classes.is_null() {
                    (old.classes, old.classes_size)
                } else {
                    if let Ok(new_layout) = Layout::from_size_align(new_size, old.align) {
                        note_class(&mut self.classes_used, new_layout);
                    }
                    // SAFETY: `old.classes` was allocated by `self.classes` with this layout
                    // (checked when it was allocated) and not freed; the new size is not 0
                    // and fits (`Trace::new` checked it).
                    let moved = unsafe {
                        let layout = Layout::from_size_align_unchecked(old.classes_size, old.align);
                        self.classes.realloc(old.classes, layout, new_size)
                    };
                    if moved.is_null() {
                        self.classes_failed += 1;
                        (old.classes, old.classes_size)
                    } else {
                        (moved, new_size)
                    }
                };
                *live = LiveBlock {
                    size: new_size,
                    classes_size,
                    align: old.align,
                    heap,
                    classes,
                };
                let size = new_size;
                self.requested = self.requested - old.size + size;
            }
        }
        self.peak_requested = self.peak_requested.max(self.requested);
        true
    }

    /// Gives a live block back to both allocators.
    fn release(&mut self, live: LiveBlock) {
        if let Some(block) = live.heap {
            let _ = self.heap.free(block); // ours, in use: accepted
        }
        if !live.classes.is_null() {
            // SAFETY: allocated (or last reallocated) by `self.classes` with this size and
            // alignment, and freed only here, once (the block was taken out of `live`).
            unsafe {
                self.classes.dealloc(
                    live.classes,
                    Layout::from_size_align_unchecked(live.classes_size, live.align),
                )
            };
        }
    }

    /// What both allocators hold now. O(free blocks of the heap).
    pub fn counters(&self) -> ReplayCounters {
        let heap_stats = self.heap.stats();
        let free = self.heap.total_free();
        let mut classes = ClassesCounters {
            failed: self.classes_failed,
            ..ClassesCounters::default()
        };
        for (class, &block_size) in CLASS_SIZES.iter().enumerate() {
            if self.classes_used & (1 << class) == 0 {
                continue; // never used: no pool, and asking would make one
            }
            if let Some(stats) = self.classes.class_stats(class) {
                classes.reserved += stats.stats.in_use * block_size;
                classes.held += stats.capacity * block_size;
            }
        }
        let large = self.classes.large_stats().bytes_in_use;
        classes.reserved += large;
        classes.held += large;
        ReplayCounters {
            events: self.position,
            requested: self.requested,
            peak_requested: self.peak_requested,
            heap: HeapCounters {
                reserved: self.heap.size() - free,
                free,
                largest_free: self.heap.largest_free(),
                searched: heap_stats.blocks_searched,
                failed: heap_stats.failed_allocs,
            },
            classes,
        }
    }
}

/// Notes in `used` which class (if any) serves `layout`.
fn note_class(used: &mut u64, layout: Layout) {
    const _: () = assert!(crate::CLASS_COUNT <= 64, "one bit a class in a u64");
    if let Some(class) = SizeClasses::class_for(layout) {
        *used |= 1 << class;
    }
}

impl Drop for Replay {
    /// Frees what the program left allocated, so that the size classes' large blocks (which
    /// no region owns) go back to the memory source with everything else.
    fn drop(&mut self) {
        for index in 0..self.live.len() {
            if let Some(live) = self.live[index].take() {
                self.release(live);
            }
        }
    }
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}
