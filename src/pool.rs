//! The pool: hand out fixed-size blocks in O(1), take them back in O(1), refuse misuse.
//!
//! Blocks come from two places. Never-used blocks are taken in address order by bumping an
//! index (`next_never_used`), so creating a pool touches none of its blocks. Blocks that come
//! back go on a free list, a stack threaded through the free blocks themselves, and are
//! handed out again first (the most recently freed block is the one most likely still in the
//! cache). Each block's state byte says whether it is never used, free or in use, which is
//! what lets `free` refuse a double free in one load instead of a search.
//!
//! In a large pool there is one free list per chunk (16 KiB of blocks). `alloc` pops from the
//! *current* chunk's list, which the pool keeps at hand; a block of the current chunk goes back
//! onto it, a block of another chunk onto that chunk's own list. When the current list runs
//! out, the pool takes the next chunk that has free blocks. So the blocks handed out one after
//! another are neighbours, however scattered the frees were (see `region.rs`).

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::map::{BlockInfo, BlockState, Blocks, FreeList, PoolStats, RegionLayout};
use crate::memory::{MemorySource, SystemMemory};
use crate::region::{block_shape, pool_region_size, Location, Region, CHUNK_BYTES};
use crate::sanitizer;
use crate::{FreeError, PoolError};

/// A pool of equal-sized blocks carved from one region of memory.
///
/// `M` is where the region comes from: [`SystemMemory`] (`mmap`, or linear memory on
/// wasm32) unless you pick another [`MemorySource`] with [`Pool::new_in`].
///
/// # Examples
///
/// ```
/// use memory_pool::{FreeError, Pool};
///
/// let mut pool = Pool::new(64, 1000)?;
/// let block = pool.alloc().expect("a fresh pool has free blocks");
/// assert_eq!(pool.in_use(), 1);
///
/// pool.free(block)?;
/// // Freeing it again is caught, and changes nothing.
/// assert!(matches!(pool.free(block), Err(FreeError::DoubleFree { .. })));
/// assert_eq!(pool.in_use(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool<M: MemorySource = SystemMemory> {
    region: Region<M>,
    /// The free block `alloc` pops next: the head of the current chunk's list, or an end mark
    /// (an odd address in that chunk) when it is empty, so it always says which chunk is
    /// current. An address rather than an index, so that popping and pushing need no
    /// multiply: the chain from one operation to the next is as short as a bare free list's.
    free_head: *mut u8,
    /// Blocks below this index have been handed out at least once.
    next_never_used: usize,
    /// The counters. `stats.in_use` is not kept up to date here: it is always
    /// `total_allocs - total_frees`, so `alloc` and `free` each bump one counter (fewer
    /// stores on the hot path) and [`in_use`](Self::in_use) / [`stats`](Self::stats) work it
    /// out when asked.
    stats: PoolStats,
    /// The error of the last refused `free`, kept here so that `refuse` can hand it back by
    /// reference: returned by value, the error needs a slot on `free`'s stack, and on wasm32
    /// that makes every `free` set up a stack frame (measured: 4.35 → 4.11 ns per wasm pair).
    last_refusal: FreeError,
}

// SAFETY: a pool owns its region outright (no other handle to it exists), so it can move to
// another thread together with its memory source.
unsafe impl<M: MemorySource + Send> Send for Pool<M> {}

impl Pool {
    /// Creates a pool of `block_count` blocks of at least `block_size` bytes each, aligned to
    /// at least `align_of::<usize>()`, in memory from the operating system.
    ///
    /// The block size is rounded up to a multiple of `align_of::<usize>()` (a free block must
    /// hold the free-list link); [`block_size`](Self::block_size) says what you got. Creating
    /// a pool is O(1): no block is touched until it is handed out.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroBlockSize`] or [`PoolError::ZeroBlockCount`] for zeros,
    /// [`PoolError::TooLarge`] when the sizes overflow the address space, and
    /// [`PoolError::OutOfMemory`] when the system refuses the memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(20, 100)?;
    /// assert_eq!(pool.block_size(), 24); // rounded up to a multiple of 8 on 64-bit
    /// assert_eq!(Pool::new(0, 100).unwrap_err(), PoolError::ZeroBlockSize);
    /// assert!(matches!(Pool::new(usize::MAX, 2), Err(PoolError::TooLarge { .. })));
    /// # Ok::<(), PoolError>(())
    /// ```
    #[cfg(any(unix, target_arch = "wasm32"))]
    pub fn new(block_size: usize, block_count: usize) -> Result<Pool, PoolError> {
        Pool::new_in(block_size, block_count, SystemMemory)
    }

    /// How many bytes [`Pool::new_in`] asks its memory source for, for `block_count` blocks of
    /// `block_size` bytes (the blocks, a state byte per block, the chunk lists, and room to
    /// align the blocks wherever the memory starts); `None` when that does not fit in an
    /// `isize`. Use it to size the buffer of a [`SliceMemory`](crate::SliceMemory). (A source
    /// that places the region so that the blocks fall on their alignment, as linear memory
    /// does on wasm32, gives a region without that room: see
    /// [`MemorySource::acquire_aligned`](crate::MemorySource::acquire_aligned).)
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{Pool, SliceMemory};
    ///
    /// const BYTES: usize = Pool::region_size(64, 10).unwrap();
    /// let mut buffer = [0u8; BYTES];
    /// let pool = Pool::new_in(64, 10, SliceMemory::new(&mut buffer))?;
    /// assert_eq!(pool.layout().size, BYTES);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub const fn region_size(block_size: usize, block_count: usize) -> Option<usize> {
        let Ok(layout) = Layout::from_size_align(block_size, align_of::<usize>()) else {
            return None;
        };
        match block_shape(layout) {
            Some((stride, align)) => pool_region_size(stride, align, block_count),
            None => None,
        }
    }

    /// Creates a pool whose blocks fit `layout`: at least its size, aligned to its alignment.
    ///
    /// # Errors
    ///
    /// As for [`Pool::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use memory_pool::Pool;
    ///
    /// #[repr(align(64))]
    /// struct CacheLine([u8; 64]);
    ///
    /// let mut pool = Pool::with_layout(Layout::new::<CacheLine>(), 10)?;
    /// let block = pool.alloc().unwrap();
    /// assert_eq!(block.as_ptr() as usize % 64, 0);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    #[cfg(any(unix, target_arch = "wasm32"))]
    pub fn with_layout(layout: Layout, block_count: usize) -> Result<Pool, PoolError> {
        Pool::with_layout_in(layout, block_count, SystemMemory)
    }
}

impl<M: MemorySource> Pool<M> {
    /// Like [`Pool::new`], with memory from `memory`.
    ///
    /// # Errors
    ///
    /// As for [`Pool::new`]; [`PoolError::OutOfMemory`] when `memory` has too little.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{Pool, PoolError, SliceMemory};
    ///
    /// let mut buffer = vec![0u8; 4096];
    /// let pool = Pool::new_in(64, 50, SliceMemory::new(&mut buffer))?;
    /// assert_eq!(pool.block_count(), 50);
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn new_in(block_size: usize, block_count: usize, memory: M) -> Result<Self, PoolError> {
        if block_size == 0 {
            return Err(PoolError::ZeroBlockSize);
        }
        // Before the size check below: zero blocks of any size is "no blocks", not "too large".
        if block_count == 0 {
            return Err(PoolError::ZeroBlockCount);
        }
        let align = align_of::<usize>();
        let layout =
            Layout::from_size_align(block_size, align).map_err(|_| PoolError::TooLarge {
                block_size,
                block_count,
            })?;
        Pool::with_layout_in(layout, block_count, memory)
    }

    /// Like [`Pool::with_layout`], with memory from `memory`.
    ///
    /// # Errors
    ///
    /// As for [`Pool::new`].
    pub fn with_layout_in(
        layout: Layout,
        block_count: usize,
        memory: M,
    ) -> Result<Self, PoolError> {
        if layout.size() == 0 {
            return Err(PoolError::ZeroBlockSize);
        }
        if block_count == 0 {
            return Err(PoolError::ZeroBlockCount);
        }
        let (stride, align) = block_shape(layout).ok_or(PoolError::TooLarge {
            block_size: layout.size(),
            block_count,
        })?;
        let region = Region::new(stride, align, block_count, memory)?;
        Ok(Pool {
            free_head: region.empty_list(),
            last_refusal: FreeError::NotInPool { addr: 0 },
            region,
            next_never_used: 0,
            stats: PoolStats::default(),
        })
    }

    /// Hands out a block, or `None` when every block is in use. O(1).
    ///
    /// The block is [`block_size`](Self::block_size) bytes, aligned as the pool promised, and
    /// stays yours until you [`free`](Self::free) it. Its contents are whatever was there:
    /// zeros for a never-used block, old data (and the free-list link) for a reused one.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::Pool;
    ///
    /// let mut pool = Pool::new(16, 2)?;
    /// let a = pool.alloc().unwrap();
    /// let b = pool.alloc().unwrap();
    /// assert_ne!(a, b);
    /// assert_eq!(pool.alloc(), None); // full
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn alloc(&mut self) -> Option<NonNull<u8>> {
        self.pop().or_else(|| self.alloc_slow())
    }

    /// Pops the head of the current list, or `None` if the list is empty or its head is not a
    /// free block.
    #[inline(always)]
    fn pop(&mut self) -> Option<NonNull<u8>> {
        let head = self.free_head;
        // `None` for an end mark (odd, so no block start).
        let found = self.region.find(head)?;
        // A free block holds its state and a link to the next free block, checked like this
        // when that one is popped in turn. Anything else means it was written after it was
        // freed: don't follow it.
        // SAFETY: `found` came from `find`.
        if unsafe { self.region.state_of(found) } != BlockState::Free as u8 {
            return None;
        }
        // SAFETY: `found` came from `find`, and the block is free, so its link slot holds a
        // link (or whatever a use-after-free wrote there, checked when it is popped in turn).
        unsafe {
            self.free_head = self.region.link_of(found).read();
            self.region.set_state_of(found, BlockState::InUse);
        }
        // SAFETY: `head` is a block start, so not null.
        let block = unsafe { NonNull::new_unchecked(head) };
        self.stats.total_allocs += 1;
        // No peak to update: see `alloc_never_used`.
        sanitizer::block_handed_out(block, self.region.stride());
        Some(block)
    }

    /// The current list is empty (or damaged): take the next chunk with free blocks, or else a
    /// never-used block. Once per chunk's worth of blocks, so out of line.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self) -> Option<NonNull<u8>> {
        loop {
            if !self.region.is_end_mark(self.free_head) {
                self.drop_damaged_list();
            }
            let Some(list) = self.region.pop_chunk() else {
                return self.alloc_never_used();
            };
            self.free_head = list;
            if let Some(block) = self.pop() {
                return Some(block);
            }
        }
    }

    /// Not an end mark, so `pop` found the head was not a free block: a use-after-free wrote
    /// over a link. Drop what is left of this list (those blocks stay marked free, off every
    /// list) and carry on with the next.
    #[cold]
    #[inline(never)]
    fn drop_damaged_list(&mut self) {
        self.stats.damaged_free_lists += 1;
        self.free_head = self.region.empty_list();
    }

    /// No freed block is waiting on any list: hand out the next never-used block, if any.
    ///
    /// This is also the only place the peak can grow. A never-used block is handed out only
    /// when no list holds a block, that is when every block handed out so far is in use; so
    /// each time, the number in use equals the number of blocks ever used, and no later
    /// moment can have more in use than that. (Only a use-after-free that rewrites free-list
    /// links to lead back to blocks it cut off a list could; then the peak may undercount.)
    fn alloc_never_used(&mut self) -> Option<NonNull<u8>> {
        let index = self.next_never_used;
        if index >= self.region.count() {
            return None;
        }
        self.next_never_used += 1;
        // SAFETY: `index < count`.
        let block = unsafe {
            self.region.set_state(index, BlockState::InUse);
            self.region.block(index)
        };
        // Every list is empty, so the block's chunk can become the current one for free: its
        // neighbours, when they come back, go straight onto the list `alloc` pops.
        self.free_head = self.region.end_mark_at(block.addr().get());
        self.stats.total_allocs += 1;
        self.stats.peak_in_use = self.stats.peak_in_use.max(self.in_use());
        sanitizer::block_handed_out(block, self.region.stride());
        Some(block)
    }

    /// The view of the pool's region that code in front of the pool checks pointers with.
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn region_view(&self) -> crate::region::RegionView {
        self.region.view()
    }

    /// Gives a block back to the pool. O(1).
    ///
    /// Safe to call with any pointer at all: a pointer that is not a block handed out by this
    /// pool and not yet freed is refused with an error, and the pool is left exactly as it
    /// was (except for the count of refused frees in [`stats`](Self::stats)).
    ///
    /// # Errors
    ///
    /// - [`FreeError::NotInPool`]: the pointer is outside this pool's blocks;
    /// - [`FreeError::Misaligned`]: it points into a block but not at its start;
    /// - [`FreeError::DoubleFree`]: the block is already free, or was never handed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{FreeError, Pool};
    ///
    /// let mut pool = Pool::new(32, 4)?;
    /// let block = pool.alloc().unwrap();
    /// let inside = block.map_addr(|addr| addr.checked_add(8).unwrap());
    /// let err = pool.free(inside).unwrap_err();
    /// assert!(matches!(err, FreeError::Misaligned { offset: 8, .. }));
    /// println!("{err}"); // misaligned free: 0x… is 8 bytes into block 0 (which starts at 0x…); …
    /// pool.free(block)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn free(&mut self, block: NonNull<u8>) -> Result<(), FreeError> {
        // Anything but a block start, and a block that is not in use, is refused; `refuse`
        // says which error it is.
        let given = block.as_ptr();
        let block = self.region.reclaim(block);
        let Some(found) = self.region.find(block.as_ptr()) else {
            return Err(*self.refuse(given));
        };
        // SAFETY: `found` came from `find`.
        if unsafe { self.region.state_of(found) } != BlockState::InUse as u8 {
            return Err(*self.refuse(given));
        }
        let addr = block.addr().get();
        let link = self.region.link_of(found);
        // SAFETY: `found` came from `find`, and the block was in use, so it is ours again to
        // write: its state, and its link slot.
        unsafe {
            self.region.set_state_of(found, BlockState::Free);
            // Onto the current list if the block is in the current chunk, else onto its own
            // chunk's list; either way it links to the list's old head.
            if self.region.same_chunk(addr, self.free_head.addr()) {
                link.write(self.free_head);
                self.free_head = block.as_ptr();
            } else {
                crate::region::cold_path();
                self.free_to_other_chunk(block, link);
            }
        }
        sanitizer::block_freed(block, self.region.stride(), link.addr().get() - addr);
        self.stats.total_frees += 1;
        Ok(())
    }

    /// `free` of a block outside the current chunk: onto its own chunk's list. `free` marks
    /// the call as its less common path, so that a block of the current chunk runs straight
    /// through without a jump (the 64-byte pair and last-first batch measured faster so; an
    /// out-of-line call instead made the random batch slower).
    ///
    /// # Safety
    ///
    /// `block` is a block start of this region, no longer in use, and `link` its link slot.
    #[inline(always)]
    unsafe fn free_to_other_chunk(&mut self, block: NonNull<u8>, link: NonNull<*mut u8>) {
        let chunk = self.region.chunk_of(block.addr().get());
        // SAFETY: `chunk` is the chunk of one of this region's blocks, and the caller hands
        // over the block's link slot to write.
        unsafe { link.write(self.region.push_onto_chunk(chunk, block)) }
    }

    /// Explains why `free(ptr)` was refused, and counts it.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, ptr: *const u8) -> &FreeError {
        let error = match self.check(ptr) {
            Err(error) => error,
            Ok(_) => unreachable!("refuse is only called for a pointer free cannot take"),
        };
        let rejected = &mut self.stats.rejected;
        match error {
            FreeError::NotInPool { .. } => rejected.not_in_pool += 1,
            FreeError::Misaligned { .. } => rejected.misaligned += 1,
            FreeError::DoubleFree { .. } => rejected.double_free += 1,
        }
        self.last_refusal = error;
        &self.last_refusal
    }

    /// When no block is in use: gives the region's memory back to the memory source (keeping
    /// its addresses) and starts over with every block never used; the counters are kept.
    /// Returns whether it did: not while a block is in use, nor when the source cannot
    /// (then nothing changed).
    pub(crate) fn decommit_if_unused(&mut self) -> bool {
        if self.in_use() != 0 || self.next_never_used == 0 {
            return false;
        }
        // SAFETY: no block is in use (checked above), so nobody holds one of the bytes lost.
        if !unsafe { self.region.decommit() } {
            return false;
        }
        self.free_head = self.region.empty_list();
        self.next_never_used = 0;
        true
    }

    /// Checks, without changing anything, whether `free(ptr)` would succeed: `Ok` with the
    /// block's index if `ptr` is an in-use block of this pool, otherwise the error `free`
    /// would return.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{FreeError, Pool};
    ///
    /// let mut pool = Pool::new(32, 4)?;
    /// let first = pool.alloc().unwrap();
    /// let second = pool.alloc().unwrap();
    /// assert_eq!(pool.check(second.as_ptr()), Ok(1));
    /// assert!(matches!(pool.check(&0u8), Err(FreeError::NotInPool { .. })));
    /// # let _ = first;
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn check(&self, ptr: *const u8) -> Result<usize, FreeError> {
        let addr = ptr.addr();
        match self.region.locate(addr) {
            Location::Outside => Err(FreeError::NotInPool { addr }),
            Location::Inside { index, offset } => Err(FreeError::Misaligned {
                addr,
                block: index,
                offset,
            }),
            Location::BlockStart(index) => match self.state(index) {
                Some(BlockState::InUse) => Ok(index),
                state => Err(FreeError::DoubleFree {
                    addr,
                    block: index,
                    state: state.unwrap_or(BlockState::NeverUsed),
                }),
            },
        }
    }

    /// The usable size of each block in bytes (the requested size, rounded up to the
    /// alignment).
    pub fn block_size(&self) -> usize {
        self.region.stride()
    }

    /// The number of blocks in the pool.
    pub fn block_count(&self) -> usize {
        self.region.count()
    }

    /// How many blocks are handed out and not yet freed.
    #[inline(always)]
    pub fn in_use(&self) -> usize {
        (self.stats.total_allocs - self.stats.total_frees) as usize
    }

    /// How many more blocks `alloc` can hand out before it returns `None`.
    pub fn available(&self) -> usize {
        self.block_count() - self.in_use()
    }

    /// Whether `ptr` points anywhere inside this pool's blocks (at a block start or not,
    /// in use or not). O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::Pool;
    ///
    /// let mut pool = Pool::new(32, 4)?;
    /// let block = pool.alloc().unwrap();
    /// assert!(pool.contains(block.as_ptr()));
    /// assert!(!pool.contains(&0u8));
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn contains(&self, ptr: *const u8) -> bool {
        self.region.locate(ptr.addr()) != Location::Outside
    }

    /// The state of block `index`, or `None` if there is no such block.
    pub fn state(&self, index: usize) -> Option<BlockState> {
        self.region
            .states()
            .get(index)
            .map(|byte| BlockState::from_byte(byte.load(core::sync::atomic::Ordering::Relaxed)))
    }

    /// The address of block `index`, or `None` if there is no such block.
    pub fn block_ptr(&self, index: usize) -> Option<NonNull<u8>> {
        // SAFETY: the index is checked against the block count first.
        (index < self.block_count()).then(|| unsafe { self.region.block(index) })
    }

    /// Where block `index` keeps its free-list link while it is free, or `None` if there is
    /// no such block: the address of a word inside the block holding the address of the
    /// next free block (or, at the end of its chunk's list, an end mark: an odd address).
    ///
    /// It is the block's first word, except in blocks of two cache lines or more, whose links
    /// are staggered by whole cache lines from one block to the next (see the crate docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::Pool;
    ///
    /// let mut pool = Pool::new(32, 4)?;
    /// let [a, b] = [(); 2].map(|_| pool.alloc().unwrap());
    /// pool.free(a)?;
    /// pool.free(b)?; // b is now the head, and its link points at a
    /// let link = pool.link_address(1).unwrap();
    /// assert_eq!(link, b.as_ptr() as usize);
    /// // SAFETY: the link is an aligned word inside block b, which the pool owns (and which
    /// // nobody writes while we look).
    /// let next = unsafe { b.as_ptr().with_addr(link).cast::<usize>().read() };
    /// assert_eq!(next, a.as_ptr() as usize);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn link_address(&self, index: usize) -> Option<usize> {
        // SAFETY: the index is checked against the block count first.
        (index < self.block_count()).then(|| unsafe { self.region.link_address(index) })
    }

    /// A copy of the counters: in use, peak, allocations, frees and refused frees.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::Pool;
    ///
    /// let mut pool = Pool::new(32, 4)?;
    /// let block = pool.alloc().unwrap();
    /// pool.free(block).unwrap();
    /// let _ = pool.free(block); // refused: double free
    /// let stats = pool.stats();
    /// assert_eq!((stats.total_allocs, stats.total_frees, stats.peak_in_use), (1, 1, 1));
    /// assert_eq!(stats.rejected.double_free, 1);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            in_use: self.in_use(),
            ..self.stats
        }
    }

    /// Every block in address order, with its address and state. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{BlockState, Pool};
    ///
    /// let mut pool = Pool::new(32, 3)?;
    /// let a = pool.alloc().unwrap();
    /// let _b = pool.alloc().unwrap();
    /// pool.free(a).unwrap();
    /// let states: Vec<BlockState> = pool.blocks().map(|block| block.state).collect();
    /// assert_eq!(states, [BlockState::Free, BlockState::InUse, BlockState::NeverUsed]);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn blocks(&self) -> Blocks<'_> {
        let (_, _, first_block) = self.region.addresses();
        Blocks::new(self.region.states(), first_block, self.region.stride())
    }

    /// The free list: indices of the freed blocks in the order `alloc` will hand them out
    /// (the current chunk's list, then each waiting chunk's). Never-used blocks come after
    /// them, in address order. Allocates nothing. (After a use-after-free rewired a link into
    /// another chunk's list, a block can be listed twice: `alloc` hands it out once, then
    /// finds it in use and cuts the second list there.)
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::Pool;
    ///
    /// let mut pool = Pool::new(32, 4)?;
    /// let blocks: Vec<_> = (0..3).map(|_| pool.alloc().unwrap()).collect();
    /// pool.free(blocks[0]).unwrap();
    /// pool.free(blocks[2]).unwrap();
    /// assert_eq!(pool.free_list().collect::<Vec<_>>(), [2, 0]); // last freed, first reused
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn free_list(&self) -> FreeList<'_, M> {
        FreeList::new(&self.region, self.region.index_of(self.free_head.addr()))
    }

    /// The index of the first never-used block: `alloc` takes it once the free list is
    /// empty. Equal to [`block_count`](Self::block_count) when every block has been used.
    pub fn next_never_used(&self) -> usize {
        self.next_never_used
    }

    /// The blocks still in use, in address order: at the end of a program, its leaks.
    ///
    /// Dropping a pool gives its whole region back to the memory source at once, so blocks
    /// still in use are not freed one by one (nothing is freed twice, and no destructor
    /// runs); pointers to them dangle. Look here first to find what was never freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::Pool;
    ///
    /// let mut pool = Pool::new(32, 4)?;
    /// let kept = pool.alloc().unwrap();
    /// let freed = pool.alloc().unwrap();
    /// pool.free(freed).unwrap();
    /// let leaks: Vec<usize> = pool.leaks().map(|block| block.addr).collect();
    /// assert_eq!(leaks, [kept.as_ptr() as usize]);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn leaks(&self) -> impl Iterator<Item = BlockInfo> + '_ {
        self.blocks()
            .filter(|block| block.state == BlockState::InUse)
    }

    /// Where the region is and how it is laid out (metadata, then blocks).
    pub fn layout(&self) -> RegionLayout {
        let (base, size, blocks) = self.region.addresses();
        RegionLayout {
            base,
            size,
            states: blocks - self.block_count(),
            blocks,
            stride: self.region.stride(),
            count: self.region.count(),
            chunk_bytes: CHUNK_BYTES,
        }
    }
}

/// Only AddressSanitizer builds need to do anything when a pool goes away (the region itself
/// is given back by `Region`'s own `Drop`).
#[cfg(memory_pool_asan)]
impl<M: MemorySource> Drop for Pool<M> {
    fn drop(&mut self) {
        if let Some(first) = self.block_ptr(0) {
            sanitizer::blocks_released(first, self.region.stride(), self.next_never_used);
        }
    }
}

impl<M: MemorySource> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("block_size", &self.block_size())
            .field("block_count", &self.block_count())
            .field("in_use", &self.in_use())
            .finish_non_exhaustive()
    }
}
