//! A pool that threads can share: a lock-free free list with ABA protection.
//! [`SyncPool`]'s doc tells how.

#[cfg(not(loom))]
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::BlockState;

/// The index that marks an empty free list.
const EMPTY: u32 = u32::MAX;

/// The head of the free list and the never-used counter; the links and states it works on
/// are passed in, so the same code runs on a region (normally) and on `Vec`s (under loom).
pub(crate) struct FreeStack {
    /// Tag in the high 32 bits, index of the first free block (or [`EMPTY`]) in the low.
    head: AtomicU64,
    /// Blocks below this index have been handed out at least once.
    next_never_used: AtomicUsize,
    count: usize,
}

/// Why a block could not be given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotInUse(pub(crate) BlockState);

impl FreeStack {
    /// An empty stack over `count` blocks, all never used. `count < u32::MAX`.
    pub(crate) fn new(count: usize) -> Self {
        debug_assert!(count < EMPTY as usize);
        FreeStack {
            head: AtomicU64::new(EMPTY as u64),
            next_never_used: AtomicUsize::new(0),
            count,
        }
    }

    /// Takes a block: the top of the free list, else the next never-used block; marks it in
    /// use. `links` and `states` have `count` entries.
    #[inline]
    pub(crate) fn take(&self, links: &[AtomicU32], states: &[AtomicU8]) -> Option<usize> {
        let index = self.pop(links).or_else(|| self.take_never_used())?;
        states[index].store(BlockState::InUse as u8, Ordering::Relaxed);
        Some(index)
    }

    #[inline]
    fn pop(&self, links: &[AtomicU32]) -> Option<usize> {
        // Acquire: the block's link, and the bytes its last owner wrote, happened before the
        // push that we read (a chain of CASes on `head` carries that along).
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let index = head as u32;
            if index == EMPTY {
                return None;
            }
            // If another thread takes `index` meanwhile, this may read a stale link; the tag
            // has then changed and the CAS below fails.
            let next = links[index as usize].load(Ordering::Relaxed);
            let new = tagged(head, next);
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(index as usize),
                Err(current) => head = current,
            }
        }
    }

    fn take_never_used(&self) -> Option<usize> {
        let mut next = self.next_never_used.load(Ordering::Relaxed);
        loop {
            if next >= self.count {
                return None;
            }
            match self.next_never_used.compare_exchange_weak(
                next,
                next + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(next),
                Err(current) => next = current,
            }
        }
    }

    /// Gives block `index` back, if it is in use; otherwise says what state it is in and
    /// changes nothing.
    #[inline]
    pub(crate) fn give_back(
        &self,
        index: usize,
        links: &[AtomicU32],
        states: &[AtomicU8],
    ) -> Result<(), NotInUse> {
        // One CAS decides a race between two frees of one block: only one sees "in use".
        if let Err(state) = states[index].compare_exchange(
            BlockState::InUse as u8,
            BlockState::Free as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            return Err(NotInUse(BlockState::from_byte(state)));
        }
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            links[index].store(head as u32, Ordering::Relaxed);
            // Release: our link and the block's bytes are visible to whoever pops it.
            match self.head.compare_exchange_weak(
                head,
                tagged(head, index as u32),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => head = current,
            }
        }
    }

    /// The first never-used block's index.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn next_never_used(&self) -> usize {
        self.next_never_used.load(Ordering::Relaxed)
    }
}

/// A new head holding `index`, with the tag of `old` plus one.
#[inline(always)]
fn tagged(old: u64, index: u32) -> u64 {
    let tag = (old >> 32) as u32;
    (u64::from(tag.wrapping_add(1)) << 32) | u64::from(index)
}

#[cfg(not(loom))]
pub use shared::SyncPool;

#[cfg(not(loom))]
mod shared {
    use core::alloc::Layout;
    use core::fmt;
    use core::ptr::NonNull;
    use core::slice;
    use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

    use super::{FreeStack, NotInUse};
    use crate::map::{PoolStats, RejectedFrees};
    use crate::memory::{MemorySource, SystemMemory};
    use crate::region::{block_shape, carve, Carved};
    use crate::{BlockState, FreeError, PoolError};

    /// A pool of equal-sized blocks that any number of threads can allocate from and free to
    /// at once, without locks.
    ///
    /// [`Pool`](crate::Pool) takes `&mut self` to allocate, so one thread owns it and nothing is
    /// ever synchronised: that is why it is fast. [`SyncPool`] takes `&self`, so an `Arc` or a
    /// `static` can hand blocks to any thread, and every step is an atomic operation instead of
    /// a lock:
    ///
    /// - **The free list is a Treiber stack.** `free` pushes a block index with a
    ///   compare-and-swap (CAS) on the head; `alloc` pops one the same way. A thread that loses a
    ///   race just retries with the new head; no thread ever waits for another.
    /// - **ABA protection.** A plain CAS on the head index can be fooled: thread A reads head = 5,
    ///   next = 9; meanwhile B pops 5, pops 9, pushes 5 back; A's CAS sees head = 5 again and sets
    ///   the head to 9, a block that is now in use. So the head is one `AtomicU64` holding the
    ///   index in its low 32 bits and a *tag* in its high 32 bits that every change increments:
    ///   after B's three changes the head reads `5, tag + 3`, and A's CAS fails as it should.
    /// - **Links live outside the blocks**, in an array of atomics at the start of the region
    ///   (next to one atomic state byte per block). A thread that lost the race may still read a
    ///   link of a block another thread has just taken; reading an atomic is fine, reading the
    ///   block's own bytes while its new owner writes them would be a data race.
    /// - **Double frees are still refused**: `free` flips the block's state from in use to free
    ///   with one CAS, so of two threads freeing one block exactly one succeeds.
    ///
    /// ```text
    ///  region: │ 0–3 B │ links: u32 × n │ states: u8 × n │ pad │ block 0 │ block 1 │ … │
    ///  head:   AtomicU64 = tag (32 bits) │ index of the first free block (32 bits)
    /// ```
    ///
    /// The tag wraps after 2³² changes; a thread would have to be paused in the middle of one
    /// `alloc` for that many operations by others for ABA to reappear.
    ///
    /// It has the same guarantees as [`Pool`](crate::Pool): O(1) `alloc` and `free` (plus
    /// retries when threads collide), and any pointer can be passed to `free`, which refuses
    /// what is not an in-use block of this pool and changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use memory_pool::SyncPool;
    ///
    /// let pool = Arc::new(SyncPool::new(64, 1000)?);
    /// let threads: Vec<_> = (0..4)
    ///     .map(|_| {
    ///         let pool = Arc::clone(&pool);
    ///         std::thread::spawn(move || {
    ///             for _ in 0..100 {
    ///                 let block = pool.alloc().unwrap();
    ///                 pool.free(block).unwrap();
    ///             }
    ///         })
    ///     })
    ///     .collect();
    /// for thread in threads {
    ///     thread.join().unwrap();
    /// }
    /// assert_eq!(pool.stats().total_allocs, 400);
    /// assert_eq!(pool.in_use(), 0);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub struct SyncPool<M: MemorySource = SystemMemory> {
        memory: M,
        base: NonNull<u8>,
        size: usize,
        /// The links, then the states: the region's first 4-aligned byte.
        metadata: NonNull<u8>,
        blocks: NonNull<u8>,
        stride: usize,
        count: usize,
        stack: FreeStack,
        counters: Counters,
    }

    #[derive(Default)]
    struct Counters {
        in_use: AtomicUsize,
        peak_in_use: AtomicUsize,
        total_allocs: AtomicU64,
        total_frees: AtomicU64,
        not_in_pool: AtomicU64,
        misaligned: AtomicU64,
        double_free: AtomicU64,
    }

    // SAFETY: `alloc`, `free` and every other `&self` method touch the region only through
    // atomics (links, states) or hand out blocks that one owner at a time uses; the memory
    // source is used only by `new` and `drop`, which own the pool.
    unsafe impl<M: MemorySource + Send> Sync for SyncPool<M> {}
    // SAFETY: the pool owns its region outright, so it can move with its memory source.
    unsafe impl<M: MemorySource + Send> Send for SyncPool<M> {}

    impl SyncPool {
        /// A pool of `block_count` blocks of at least `block_size` bytes (aligned to
        /// `align_of::<usize>()`), in memory from the operating system.
        ///
        /// # Errors
        ///
        /// As for [`Pool::new`](crate::Pool::new); also [`PoolError::TooLarge`] for
        /// `u32::MAX` blocks or more (block indices are 32 bits, next to a 32-bit tag).
        #[cfg(any(unix, target_arch = "wasm32"))]
        pub fn new(block_size: usize, block_count: usize) -> Result<SyncPool, PoolError> {
            let layout =
                Layout::from_size_align(block_size.max(1), align_of::<usize>()).map_err(|_| {
                    PoolError::TooLarge {
                        block_size,
                        block_count,
                    }
                })?;
            if block_size == 0 {
                return Err(PoolError::ZeroBlockSize);
            }
            SyncPool::with_layout_in(layout, block_count, SystemMemory)
        }
    }

    impl<M: MemorySource> SyncPool<M> {
        /// A pool whose blocks fit `layout`, in memory from `memory`.
        ///
        /// # Errors
        ///
        /// As for [`SyncPool::new`].
        pub fn with_layout_in(
            layout: Layout,
            block_count: usize,
            mut memory: M,
        ) -> Result<Self, PoolError> {
            if layout.size() == 0 {
                return Err(PoolError::ZeroBlockSize);
            }
            if block_count == 0 {
                return Err(PoolError::ZeroBlockCount);
            }
            let too_large = PoolError::TooLarge {
                block_size: layout.size(),
                block_count,
            };
            if block_count >= super::EMPTY as usize {
                return Err(too_large);
            }
            let (stride, align) = block_shape(layout).ok_or(too_large)?;
            // Up to 3 bytes that put the links on 4 bytes (a memory source may give memory
            // that starts anywhere), links (4 bytes each), states (1 byte each), padding, blocks.
            let link_align = align_of::<AtomicU32>();
            let metadata = block_count
                .checked_mul(5)
                .and_then(|bytes| bytes.checked_add(link_align - 1))
                .ok_or(too_large)?;
            let Carved { base, size, blocks } =
                carve(&mut memory, metadata, stride, align, block_count, too_large)?;
            let skip = base.as_ptr().addr().next_multiple_of(link_align) - base.as_ptr().addr();
            // SAFETY: `skip < link_align`, and the region starts with `metadata` bytes.
            let metadata = unsafe { base.add(skip) };
            Ok(SyncPool {
                memory,
                base,
                size,
                metadata,
                blocks,
                stride,
                count: block_count,
                stack: FreeStack::new(block_count),
                counters: Counters::default(),
            })
        }

        /// The links, one `AtomicU32` per block, at the start of the region.
        #[inline(always)]
        fn links(&self) -> &[AtomicU32] {
            // SAFETY: the metadata starts with `count` u32s, 4-aligned (`new` put it on the
            // region's first 4-aligned byte), zero-initialised by the source (a valid atomic),
            // and only ever accessed atomically while the pool lives.
            unsafe { slice::from_raw_parts(self.metadata.as_ptr().cast(), self.count) }
        }

        /// The states, one `AtomicU8` per block, after the links.
        #[inline(always)]
        fn states(&self) -> &[AtomicU8] {
            // SAFETY: `count` bytes after the links, zeroed (= never used), only ever
            // accessed atomically.
            unsafe {
                slice::from_raw_parts(
                    self.metadata.as_ptr().add(4 * self.count).cast(),
                    self.count,
                )
            }
        }

        /// Hands out a block, or `None` when every block is in use. Lock-free.
        #[inline]
        pub fn alloc(&self) -> Option<NonNull<u8>> {
            let index = self.stack.take(self.links(), self.states())?;
            let counters = &self.counters;
            let in_use = counters.in_use.fetch_add(1, Ordering::Relaxed) + 1;
            counters.peak_in_use.fetch_max(in_use, Ordering::Relaxed);
            counters.total_allocs.fetch_add(1, Ordering::Relaxed);
            // SAFETY: `take` returns indices below `count`, so the block is in the region.
            Some(unsafe { self.blocks.add(index * self.stride) })
        }

        /// Gives a block back. Lock-free. Any pointer may be passed: what is not an in-use
        /// block of this pool is refused and the pool is unchanged (apart from the counters
        /// of refused frees). Of two threads freeing the same block, exactly one succeeds.
        ///
        /// # Errors
        ///
        /// As for [`Pool::free`](crate::Pool::free).
        #[inline]
        pub fn free(&self, block: NonNull<u8>) -> Result<(), FreeError> {
            let index = match self.locate(block.as_ptr().addr()) {
                Ok(index) => index,
                Err(error) => return Err(self.count_refusal(error)),
            };
            match self.stack.give_back(index, self.links(), self.states()) {
                Ok(()) => {
                    self.counters.in_use.fetch_sub(1, Ordering::Relaxed);
                    self.counters.total_frees.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(NotInUse(state)) => Err(self.count_refusal(FreeError::DoubleFree {
                    addr: block.as_ptr().addr(),
                    block: index,
                    state,
                })),
            }
        }

        /// The index of the block starting at `addr`, or why there is none.
        #[inline]
        fn locate(&self, addr: usize) -> Result<usize, FreeError> {
            let offset = addr.wrapping_sub(self.blocks.as_ptr().addr());
            if offset >= self.stride * self.count {
                return Err(FreeError::NotInPool { addr });
            }
            let (index, within) = (offset / self.stride, offset % self.stride);
            if within != 0 {
                return Err(FreeError::Misaligned {
                    addr,
                    block: index,
                    offset: within,
                });
            }
            Ok(index)
        }

        #[cold]
        fn count_refusal(&self, error: FreeError) -> FreeError {
            let counter = match error {
                FreeError::NotInPool { .. } => &self.counters.not_in_pool,
                FreeError::Misaligned { .. } => &self.counters.misaligned,
                FreeError::DoubleFree { .. } => &self.counters.double_free,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            error
        }

        /// Whether `ptr` points into this pool's blocks.
        pub fn contains(&self, ptr: *const u8) -> bool {
            !matches!(self.locate(ptr.addr()), Err(FreeError::NotInPool { .. }))
        }

        /// The state of block `index` at this moment, or `None` if there is no such block.
        pub fn state(&self, index: usize) -> Option<BlockState> {
            let state = self.states().get(index)?.load(Ordering::Relaxed);
            Some(BlockState::from_byte(state))
        }

        /// The usable size of each block, in bytes.
        pub fn block_size(&self) -> usize {
            self.stride
        }

        /// The number of blocks.
        pub fn block_count(&self) -> usize {
            self.count
        }

        /// The index of the first block never handed out.
        pub fn next_never_used(&self) -> usize {
            self.stack.next_never_used()
        }

        /// Blocks handed out and not yet freed (a snapshot: other threads may be changing it).
        pub fn in_use(&self) -> usize {
            self.counters.in_use.load(Ordering::Relaxed)
        }

        /// A snapshot of the counters.
        pub fn stats(&self) -> PoolStats {
            let c = &self.counters;
            PoolStats {
                in_use: c.in_use.load(Ordering::Relaxed),
                peak_in_use: c.peak_in_use.load(Ordering::Relaxed),
                total_allocs: c.total_allocs.load(Ordering::Relaxed),
                total_frees: c.total_frees.load(Ordering::Relaxed),
                rejected: RejectedFrees {
                    not_in_pool: c.not_in_pool.load(Ordering::Relaxed),
                    misaligned: c.misaligned.load(Ordering::Relaxed),
                    double_free: c.double_free.load(Ordering::Relaxed),
                },
                damaged_free_lists: 0,
            }
        }
    }

    impl<M: MemorySource> Drop for SyncPool<M> {
        fn drop(&mut self) {
            // SAFETY: the pair `acquire` returned, released once, when no `&self` is left.
            unsafe { self.memory.release(self.base, self.size) }
        }
    }

    impl<M: MemorySource> fmt::Debug for SyncPool<M> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SyncPool")
                .field("block_size", &self.stride)
                .field("block_count", &self.count)
                .field("in_use", &self.in_use())
                .finish_non_exhaustive()
        }
    }
}

/// Model checks of the free list under every interleaving loom can find:
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib sync_pool::loom` (`make loom`).
#[cfg(all(test, loom))]
mod loom_checks {
    use std::{vec, vec::Vec};

    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    struct Shared {
        stack: FreeStack,
        links: Vec<AtomicU32>,
        states: Vec<AtomicU8>,
    }

    fn shared(count: usize) -> Arc<Shared> {
        Arc::new(Shared {
            stack: FreeStack::new(count),
            links: (0..count).map(|_| AtomicU32::new(0)).collect(),
            states: (0..count).map(|_| AtomicU8::new(0)).collect(),
        })
    }

    impl Shared {
        fn take(&self) -> Option<usize> {
            self.stack.take(&self.links, &self.states)
        }
        fn give_back(&self, index: usize) -> Result<(), NotInUse> {
            self.stack.give_back(index, &self.links, &self.states)
        }
    }

    /// The ABA scenario: one thread pops while another pops twice and pushes back; no block
    /// may end up handed out twice.
    #[test]
    fn no_block_is_handed_out_twice() {
        loom::model(|| {
            let pool = shared(3);
            let a = pool.take().unwrap();
            let b = pool.take().unwrap();
            pool.give_back(b).unwrap();
            pool.give_back(a).unwrap(); // free list: a, b
            let other = Arc::clone(&pool);
            let thief = thread::spawn(move || {
                let x = other.take().unwrap();
                let y = other.take().unwrap();
                other.give_back(x).unwrap();
                y
            });
            let mine = pool.take().unwrap();
            let theirs = thief.join().unwrap();
            assert_ne!(mine, theirs, "one block handed to two owners");
            // Everything still adds up: the third block is free or never used.
            let left: Vec<usize> = std::iter::from_fn(|| pool.take()).collect();
            let mut all = vec![mine, theirs];
            all.extend(left);
            all.sort_unstable();
            assert_eq!(all, [0, 1, 2]);
        });
    }

    /// Two threads free the same block: exactly one succeeds.
    #[test]
    fn a_racing_double_free_is_refused_once() {
        loom::model(|| {
            let pool = shared(2);
            let block = pool.take().unwrap();
            let other = Arc::clone(&pool);
            let racer = thread::spawn(move || other.give_back(block).is_ok());
            let mine = pool.give_back(block).is_ok();
            let theirs = racer.join().unwrap();
            assert!(mine ^ theirs, "exactly one free succeeds");
            assert_eq!(pool.take(), Some(block));
            assert_eq!(pool.take(), Some(1));
            assert_eq!(pool.take(), None);
        });
    }

    /// Concurrent allocation from fresh blocks and the free list never duplicates a block.
    #[test]
    fn concurrent_takes_are_distinct() {
        loom::model(|| {
            let pool = shared(2);
            let first = pool.take().unwrap();
            pool.give_back(first).unwrap();
            let other = Arc::clone(&pool);
            let t = thread::spawn(move || other.take());
            let mine = pool.take();
            let theirs = t.join().unwrap();
            assert!(mine.is_some() && theirs.is_some());
            assert_ne!(mine, theirs);
        });
    }
}
