//! A teaching general-purpose heap: the `malloc` that the pool is compared with.
//!
//! **Not something to allocate with.** [`Heap`] is the playground page's comparison
//! allocator: a first-fit heap with a header on every block, written to be read and drawn,
//! and slow on purpose (its `free` walks every block to check the pointer). It lives in its
//! own module so that nobody mistakes it for one of the crate's allocators; for real work use
//! [`Pool`](crate::Pool), [`TypedPool`](crate::TypedPool), [`SyncPool`](crate::SyncPool) or
//! [`SizeClasses`](crate::SizeClasses).
//!
//! A pool serves one size. A *heap* serves any size, and this module shows what that costs,
//! with the classic design found in textbooks (and, refined, in most `malloc`s):
//!
//! ```text
//!  start                                                                      start + size
//!  │ hdr │ payload (in use) │ hdr │ free … │ hdr │ payload (in use) │ hdr │ free …        │
//!  └──── block ───────────┘ └─ block ────┘
//! ```
//!
//! - **A header on every block.** The word before each payload holds the block's size (header
//!   included) and, in its lowest bit, whether it is in use. `free` gets only a pointer, and
//!   the header is how it learns how big the block was. That word is pure overhead: for a
//!   16-byte object it is a third of the block.
//! - **A free list in address order.** Free blocks are linked through their own payloads
//!   (the first payload word holds the offset of the next free block), lowest address first.
//! - **First fit, with splitting.** `alloc` walks the free list and takes the first block
//!   large enough; if what is left over could hold a block of its own, it is *split* off and
//!   stays free. The walk is the search a pool never does.
//! - **Coalescing.** `free` puts the block back in address order and merges it with a free
//!   neighbour on either side, so two adjacent holes become one larger hole again.
//!
//! Even with coalescing, mixed sizes leave holes between blocks in use: *external
//! fragmentation*. [`Heap::external_fragmentation`] measures it as
//! `1 − largest free block / total free bytes`: 0 when all free memory is one hole, close to
//! 1 when it is scattered in many small ones, and then a request can fail although the heap
//! has plenty of free bytes in total.
//!
//! Unlike a real `malloc`, this heap checks every `free` (it walks the blocks to find the
//! one the pointer belongs to) and refuses misuse with a [`HeapFreeError`] instead of
//! corrupting itself: it is built to be looked at, not to be fast.
//!
//! # Examples
//!
//! ```
//! use memory_pool::teaching::Heap;
//!
//! let mut heap = Heap::new(256)?;
//! let small = heap.alloc(10).unwrap();
//! let large = heap.alloc(100).unwrap();
//! heap.free(small)?;
//! assert_eq!(heap.blocks().filter(|block| block.used).count(), 1);
//! # let _ = large;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;
use core::iter::FusedIterator;
use core::ptr::NonNull;

use crate::memory::{MemorySource, SystemMemory};

/// The machine word: headers and free-list links are one word each, and every block size is
/// a multiple of it, which keeps every header aligned and leaves its lowest bit free.
const WORD: usize = size_of::<usize>();

/// The smallest block: a header, and room for the free-list link while the block is free.
const MIN_BLOCK: usize = 2 * WORD;

/// The header bit that says "in use" (sizes are multiples of `WORD`, so this bit is spare).
const USED: usize = 1;

/// The free-list link that means "no next block".
const NO_BLOCK: usize = usize::MAX;

/// A first-fit heap with block headers, splitting and coalescing, over one region of memory.
///
/// `M` is where the region comes from, as for [`Pool`](crate::Pool): [`SystemMemory`]
/// unless another [`MemorySource`] is given to [`Heap::new_in`].
///
/// # Examples
///
/// Plenty of free bytes, and still no hole large enough: external fragmentation.
///
/// ```
/// use memory_pool::teaching::Heap;
///
/// let mut heap = Heap::new(8 * 64)?;
/// let blocks: Vec<_> = (0..8).map(|_| heap.alloc(48).unwrap()).collect();
/// for block in blocks.iter().step_by(2) {
///     heap.free(*block)?; // free every other block: four separate holes
/// }
/// assert!(heap.total_free() >= 4 * 48);
/// assert_eq!(heap.alloc(100), None); // no single hole fits 100 bytes
/// assert!(heap.external_fragmentation() > 0.7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Heap<M: MemorySource = SystemMemory> {
    memory: M,
    /// The region as the memory source returned it, for giving it back.
    region: NonNull<u8>,
    region_size: usize,
    /// The first block's header: the region's start rounded up to a word.
    start: NonNull<u8>,
    /// The bytes from `start` that are blocks (a multiple of `WORD`).
    len: usize,
    /// The offset of the first free block from `start`, or `NO_BLOCK`.
    free_head: usize,
    stats: HeapStats,
}

/// One block of a [`Heap`]: where it is, how big, and whether it is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapBlock {
    /// The address of the block's header (its first byte).
    pub addr: usize,
    /// The whole block in bytes, header included.
    pub size: usize,
    /// Whether the block is handed out (`true`) or on the free list (`false`).
    pub used: bool,
}

impl HeapBlock {
    /// The address `alloc` returned for this block: just after its header.
    pub fn payload(&self) -> usize {
        self.addr + WORD
    }
}

/// A heap's counters; [`Heap::stats`] returns a copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Blocks handed out and not yet freed.
    pub in_use: usize,
    /// Successful calls of `alloc`.
    pub total_allocs: u64,
    /// Successful calls of `free`.
    pub total_frees: u64,
    /// Calls of `alloc` that found no free block large enough.
    pub failed_allocs: u64,
    /// Calls of `free` that were refused.
    pub rejected_frees: u64,
    /// Free blocks looked at by `alloc` in its first-fit search, over all calls: the work a
    /// pool never does.
    pub blocks_searched: u64,
    /// Times `alloc` split a free block in two.
    pub splits: u64,
    /// Times `free` merged a block with a free neighbour.
    pub merges: u64,
}

/// Why a heap could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapError {
    /// The region asked for cannot hold even one block.
    TooSmall {
        /// The size asked for, in bytes.
        size: usize,
    },
    /// The memory source could not provide the region.
    OutOfMemory {
        /// How many bytes were asked for.
        bytes: usize,
    },
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeapError::TooSmall { size } => write!(
                f,
                "a heap of {size} bytes cannot hold a single block (at least {MIN_BLOCK} bytes)"
            ),
            HeapError::OutOfMemory { bytes } => {
                write!(f, "out of memory: could not get {bytes} bytes for the heap")
            }
        }
    }
}

impl core::error::Error for HeapError {}

/// Why [`Heap::free`] refused a pointer. The heap is unchanged after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapFreeError {
    /// The pointer is not inside the heap's blocks.
    NotInHeap {
        /// The address passed to `free`.
        addr: usize,
    },
    /// The pointer is inside a block but is not the address `alloc` returned for it.
    NotBlockStart {
        /// The address passed to `free`.
        addr: usize,
        /// The address `alloc` returned for that block (just after its header).
        payload: usize,
    },
    /// The block is already free.
    DoubleFree {
        /// The address passed to `free`.
        addr: usize,
    },
    /// The pointer is inside a free block: most likely a block freed already and since
    /// merged with a free neighbour, so its old start is now in the middle of a larger hole.
    InsideFreeBlock {
        /// The address passed to `free`.
        addr: usize,
        /// The start of the free block's payload.
        payload: usize,
    },
}

impl fmt::Display for HeapFreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeapFreeError::NotInHeap { addr } => write!(
                f,
                "{addr:#x} is not a block of this heap: it points outside the heap's region"
            ),
            HeapFreeError::NotBlockStart { addr, payload } if addr < payload => write!(
                f,
                "{addr:#x} points into the header of the block at {payload:#x}; only an \
                 address that alloc returned can be freed"
            ),
            HeapFreeError::NotBlockStart { addr, payload } => write!(
                f,
                "{addr:#x} is {} bytes into the block at {payload:#x}; only an address that \
                 alloc returned can be freed",
                addr - payload
            ),
            HeapFreeError::DoubleFree { addr } => {
                write!(f, "double free: the block at {addr:#x} is already free")
            }
            HeapFreeError::InsideFreeBlock { addr, payload } => write!(
                f,
                "double free? {addr:#x} is inside the free block at {payload:#x}: it was \
                 probably freed already and merged with a free neighbour"
            ),
        }
    }
}

impl core::error::Error for HeapFreeError {}

impl Heap {
    /// Creates a heap over a region of `size` bytes (headers included) from the operating
    /// system. It starts as one free block covering the whole region.
    ///
    /// # Errors
    ///
    /// [`HeapError::TooSmall`] if `size` cannot hold one block, [`HeapError::OutOfMemory`]
    /// if the system refuses the memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::teaching::{Heap, HeapError};
    ///
    /// let heap = Heap::new(1024)?;
    /// assert_eq!(heap.total_free(), 1024);
    /// assert!(matches!(Heap::new(3), Err(HeapError::TooSmall { size: 3 })));
    /// # Ok::<(), HeapError>(())
    /// ```
    #[cfg(any(unix, target_arch = "wasm32"))]
    pub fn new(size: usize) -> Result<Heap, HeapError> {
        Heap::new_in(size, SystemMemory)
    }

    /// The bytes of header in front of every block: one machine word (8 bytes on 64-bit,
    /// 4 on wasm32).
    pub const HEADER_BYTES: usize = WORD;

    /// The whole block that a request of `size` bytes takes: the request rounded up to a
    /// word, plus a header, and at least the smallest block. `None` if that overflows.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::teaching::Heap;
    ///
    /// let word = Heap::HEADER_BYTES;
    /// assert_eq!(Heap::block_size_for(1), Some(2 * word));
    /// assert_eq!(Heap::block_size_for(3 * word), Some(4 * word));
    /// ```
    pub fn block_size_for(size: usize) -> Option<usize> {
        let payload = size.max(1).checked_next_multiple_of(WORD)?;
        Some(payload.checked_add(WORD)?.max(MIN_BLOCK))
    }
}

impl<M: MemorySource> Heap<M> {
    /// Like [`Heap::new`], with memory from `memory`.
    ///
    /// # Errors
    ///
    /// As for [`Heap::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{teaching::Heap, SliceMemory};
    ///
    /// let mut buffer = [0u8; 512];
    /// let mut heap = Heap::new_in(256, SliceMemory::new(&mut buffer))?;
    /// assert!(heap.alloc(100).is_some());
    /// # Ok::<(), memory_pool::teaching::HeapError>(())
    /// ```
    pub fn new_in(size: usize, mut memory: M) -> Result<Self, HeapError> {
        let len = size - size % WORD;
        if len < MIN_BLOCK {
            return Err(HeapError::TooSmall { size });
        }
        // Room to round the start up to a word: the source may hand out any address.
        let region_size = size
            .checked_add(WORD - 1)
            .filter(|&bytes| bytes <= isize::MAX as usize)
            .ok_or(HeapError::OutOfMemory { bytes: size })?;
        let region = memory
            .acquire(region_size)
            .ok_or(HeapError::OutOfMemory { bytes: region_size })?;
        let skip = region.as_ptr().align_offset(WORD);
        // SAFETY: `skip < WORD`, and the region has `WORD - 1` bytes more than `len`, so the
        // blocks `start .. start + len` lie inside it.
        let start = unsafe { region.add(skip) };
        let mut heap = Heap {
            memory,
            region,
            region_size,
            start,
            len,
            free_head: 0,
            stats: HeapStats::default(),
        };
        heap.set_header(0, len, false);
        heap.set_link(0, NO_BLOCK);
        Ok(heap)
    }

    /// Hands out at least `size` bytes, or `None` when no free block is large enough.
    ///
    /// The request is rounded up to a whole word, a header is put in front of it, and the
    /// first free block (lowest address) that fits is taken, split if the rest can be a block
    /// of its own. O(free blocks). A request of 0 bytes gets the smallest block.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::teaching::Heap;
    ///
    /// let mut heap = Heap::new(128)?;
    /// let block = heap.alloc(20).unwrap();
    /// let info = heap.blocks().next().unwrap();
    /// assert_eq!(info.payload(), block.as_ptr() as usize);
    /// assert_eq!(info.size, 24usize.next_multiple_of(Heap::HEADER_BYTES) + Heap::HEADER_BYTES);
    /// assert_eq!(heap.alloc(1000), None);
    /// # Ok::<(), memory_pool::teaching::HeapError>(())
    /// ```
    pub fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let Some(needed) = Heap::block_size_for(size) else {
            self.stats.failed_allocs += 1;
            return None;
        };
        let (mut previous, mut current) = (NO_BLOCK, self.free_head);
        while current != NO_BLOCK {
            self.stats.blocks_searched += 1;
            let size = self.size_at(current);
            let next = self.link(current);
            if size >= needed {
                let replacement = if size - needed >= MIN_BLOCK {
                    // Split: the tail stays free and takes this block's place in the list.
                    let rest = current + needed;
                    self.set_header(rest, size - needed, false);
                    self.set_link(rest, next);
                    self.set_header(current, needed, true);
                    self.stats.splits += 1;
                    rest
                } else {
                    // Too little left over for a block: hand out the whole block.
                    self.set_header(current, size, true);
                    next
                };
                self.relink(previous, replacement);
                self.stats.in_use += 1;
                self.stats.total_allocs += 1;
                return NonNull::new(self.start.as_ptr().wrapping_add(current + WORD));
            }
            (previous, current) = (current, next);
        }
        self.stats.failed_allocs += 1;
        None
    }

    /// Gives a block back, merging it with free neighbours.
    ///
    /// Safe with any pointer: anything but an address `alloc` returned and not yet freed is
    /// refused, and the heap is left as it was (apart from the count of refused frees).
    /// O(blocks): the check walks the headers, which a real `malloc` does not do.
    ///
    /// # Errors
    ///
    /// [`HeapFreeError::NotInHeap`], [`HeapFreeError::NotBlockStart`],
    /// [`HeapFreeError::DoubleFree`], [`HeapFreeError::InsideFreeBlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::teaching::{Heap, HeapFreeError};
    ///
    /// let mut heap = Heap::new(128)?;
    /// let a = heap.alloc(16).unwrap();
    /// let b = heap.alloc(16).unwrap();
    /// heap.free(a)?;
    /// heap.free(b)?; // merges with `a` and with the free rest of the heap
    /// assert_eq!(heap.blocks().count(), 1);
    /// assert!(matches!(heap.free(a), Err(HeapFreeError::DoubleFree { .. })));
    /// // `b`'s block is gone, merged into the hole that starts at `a`:
    /// assert!(matches!(heap.free(b), Err(HeapFreeError::InsideFreeBlock { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn free(&mut self, block: NonNull<u8>) -> Result<(), HeapFreeError> {
        let offset = match self.check(block.as_ptr()) {
            Ok(offset) => offset,
            Err(error) => {
                self.stats.rejected_frees += 1;
                return Err(error);
            }
        };
        // Find the free neighbours: the list is in address order.
        let (mut previous, mut next) = (NO_BLOCK, self.free_head);
        while next != NO_BLOCK && next < offset {
            (previous, next) = (next, self.link(next));
        }
        let mut size = self.size_at(offset);
        if next != NO_BLOCK && offset + size == next {
            // The block after is free: absorb it.
            size += self.size_at(next);
            next = self.link(next);
            self.stats.merges += 1;
        }
        if previous != NO_BLOCK && previous + self.size_at(previous) == offset {
            // The block before is free: it absorbs this one.
            let merged = self.size_at(previous) + size;
            self.set_header(previous, merged, false);
            self.set_link(previous, next);
            self.stats.merges += 1;
        } else {
            self.set_header(offset, size, false);
            self.set_link(offset, next);
            self.relink(previous, offset);
        }
        self.stats.in_use -= 1;
        self.stats.total_frees += 1;
        Ok(())
    }

    /// What `free(ptr)` would say, without changing anything: `Ok` with the block's offset
    /// from the heap's start if `ptr` is a block in use.
    fn check(&self, ptr: *const u8) -> Result<usize, HeapFreeError> {
        let addr = ptr.addr();
        let offset = addr.wrapping_sub(self.start.as_ptr().addr());
        let Some(block) = self.blocks().find(|block| {
            let block_offset = block.addr - self.start.as_ptr().addr();
            (block_offset..block_offset + block.size).contains(&offset)
        }) else {
            return Err(HeapFreeError::NotInHeap { addr });
        };
        if addr != block.payload() && !block.used {
            return Err(HeapFreeError::InsideFreeBlock {
                addr,
                payload: block.payload(),
            });
        }
        if addr != block.payload() {
            return Err(HeapFreeError::NotBlockStart {
                addr,
                payload: block.payload(),
            });
        }
        if !block.used {
            return Err(HeapFreeError::DoubleFree { addr });
        }
        Ok(block.addr - self.start.as_ptr().addr())
    }

    /// The heap's size in bytes: every block, headers included.
    pub fn size(&self) -> usize {
        self.len
    }

    /// The address of the first block's header.
    pub fn start(&self) -> usize {
        self.start.as_ptr().addr()
    }

    /// A copy of the counters.
    pub fn stats(&self) -> HeapStats {
        self.stats
    }

    /// Every block in address order. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::teaching::Heap;
    ///
    /// let mut heap = Heap::new(256)?;
    /// heap.alloc(40).unwrap();
    /// let used: Vec<bool> = heap.blocks().map(|block| block.used).collect();
    /// assert_eq!(used, [true, false]); // the block, then the rest of the heap, split off
    /// assert_eq!(heap.blocks().map(|block| block.size).sum::<usize>(), heap.size());
    /// # Ok::<(), memory_pool::teaching::HeapError>(())
    /// ```
    pub fn blocks(&self) -> HeapBlocks<'_, M> {
        HeapBlocks {
            heap: self,
            offset: 0,
        }
    }

    /// The free blocks in free-list order (which is address order). Allocates nothing.
    pub fn free_list(&self) -> HeapFreeList<'_, M> {
        HeapFreeList {
            heap: self,
            next: self.free_head,
            steps_left: self.len / MIN_BLOCK,
        }
    }

    /// The blocks still in use: at the end of a program, its leaks.
    pub fn leaks(&self) -> impl Iterator<Item = HeapBlock> + '_ {
        self.blocks().filter(|block| block.used)
    }

    /// Free bytes in total, counting whole free blocks (headers included).
    pub fn total_free(&self) -> usize {
        self.free_list().map(|block| block.size).sum()
    }

    /// The largest free block, in bytes (header included); 0 when nothing is free.
    pub fn largest_free(&self) -> usize {
        self.free_list().map(|block| block.size).max().unwrap_or(0)
    }

    /// The largest request `alloc` can serve right now, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::teaching::Heap;
    ///
    /// let mut heap = Heap::new(256)?;
    /// let largest = heap.largest_request();
    /// assert!(heap.alloc(largest).is_some());
    /// assert_eq!(heap.largest_request(), 0);
    /// # Ok::<(), memory_pool::teaching::HeapError>(())
    /// ```
    pub fn largest_request(&self) -> usize {
        self.largest_free().saturating_sub(WORD)
    }

    /// Bytes spent on headers by the blocks in use.
    pub fn header_bytes(&self) -> usize {
        self.stats.in_use * WORD
    }

    /// External fragmentation: `1 − largest free block / total free`, from 0 (all free
    /// memory is one hole) towards 1 (free memory scattered in many small holes). 0 when
    /// nothing is free.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::teaching::Heap;
    ///
    /// let mut heap = Heap::new(256)?;
    /// assert_eq!(heap.external_fragmentation(), 0.0); // one hole
    /// let a = heap.alloc(32).unwrap();
    /// let _b = heap.alloc(32).unwrap();
    /// heap.free(a)?; // two holes: a's, and the rest of the heap
    /// assert!(heap.external_fragmentation() > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn external_fragmentation(&self) -> f64 {
        let total = self.total_free();
        if total == 0 {
            return 0.0;
        }
        1.0 - self.largest_free() as f64 / total as f64
    }

    /// Points the free list past `previous` (or the head, if `NO_BLOCK`) at `next`.
    fn relink(&mut self, previous: usize, next: usize) {
        if previous == NO_BLOCK {
            self.free_head = next;
        } else {
            self.set_link(previous, next);
        }
    }

    fn size_at(&self, offset: usize) -> usize {
        self.word(offset) & !USED
    }

    fn used_at(&self, offset: usize) -> bool {
        self.word(offset) & USED != 0
    }

    /// The block whose header is at `offset`, as the introspection iterators describe it.
    fn block_at(&self, offset: usize) -> HeapBlock {
        HeapBlock {
            addr: self.start() + offset,
            size: self.size_at(offset),
            used: self.used_at(offset),
        }
    }

    fn set_header(&mut self, offset: usize, size: usize, used: bool) {
        self.set_word(offset, size | usize::from(used));
    }

    /// The next free block after free block `offset`.
    fn link(&self, offset: usize) -> usize {
        self.word(offset + WORD)
    }

    fn set_link(&mut self, offset: usize, next: usize) {
        self.set_word(offset + WORD, next);
    }

    /// Reads the word at `offset` from the start. The only read of the heap's memory.
    ///
    /// # Panics
    ///
    /// If `offset` is not a word inside the heap: only a heap damaged by a write past the
    /// end of a block can get here, and then a panic is better than a wild read.
    fn word(&self, offset: usize) -> usize {
        assert!(offset % WORD == 0 && offset < self.len, "heap damaged");
        // SAFETY: `start .. start + len` is ours, word-aligned, and initialised (zeroed by
        // the source, then written only here); `offset` is a word inside it (checked above).
        unsafe { self.start.add(offset).cast::<usize>().read() }
    }

    /// Writes the word at `offset` from the start. The only write to the heap's memory.
    fn set_word(&mut self, offset: usize, value: usize) {
        assert!(offset % WORD == 0 && offset < self.len, "heap damaged");
        // SAFETY: as for `word`; `&mut self` means no one else is reading the header now.
        unsafe { self.start.add(offset).cast::<usize>().write(value) }
    }
}

impl<M: MemorySource> Drop for Heap<M> {
    fn drop(&mut self) {
        // SAFETY: the pair `acquire` returned, released only here.
        unsafe { self.memory.release(self.region, self.region_size) }
    }
}

impl<M: MemorySource> fmt::Debug for Heap<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap")
            .field("size", &self.len)
            .field("in_use", &self.stats.in_use)
            .field("total_free", &self.total_free())
            .finish_non_exhaustive()
    }
}

/// Every block of a heap in address order; see [`Heap::blocks`].
pub struct HeapBlocks<'a, M: MemorySource = SystemMemory> {
    heap: &'a Heap<M>,
    offset: usize,
}

impl<M: MemorySource> Iterator for HeapBlocks<'_, M> {
    type Item = HeapBlock;

    fn next(&mut self) -> Option<HeapBlock> {
        let heap = self.heap;
        if self.offset >= heap.len {
            return None;
        }
        let (offset, size) = (self.offset, heap.size_at(self.offset));
        // A size that is not a whole block means a damaged header: stop rather than wander.
        if size < MIN_BLOCK || size > heap.len - offset {
            self.offset = heap.len;
            return None;
        }
        self.offset += size;
        Some(heap.block_at(offset))
    }
}

impl<M: MemorySource> FusedIterator for HeapBlocks<'_, M> {}

impl<M: MemorySource> fmt::Debug for HeapBlocks<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapBlocks")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// The free blocks of a heap in free-list order; see [`Heap::free_list`].
pub struct HeapFreeList<'a, M: MemorySource = SystemMemory> {
    heap: &'a Heap<M>,
    next: usize,
    steps_left: usize,
}

impl<M: MemorySource> Iterator for HeapFreeList<'_, M> {
    type Item = HeapBlock;

    fn next(&mut self) -> Option<HeapBlock> {
        let heap = self.heap;
        // `steps_left` bounds the walk even if a damaged link made a cycle.
        let offset = self.next;
        if offset == NO_BLOCK || offset >= heap.len || offset % WORD != 0 {
            return None;
        }
        self.steps_left = self.steps_left.checked_sub(1)?;
        self.next = heap.link(offset);
        Some(heap.block_at(offset))
    }
}

impl<M: MemorySource> FusedIterator for HeapFreeList<'_, M> {}

impl<M: MemorySource> fmt::Debug for HeapFreeList<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapFreeList")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::string::ToString;
    use std::{vec, vec::Vec};

    use super::*;
    use crate::SliceMemory;

    /// The heap's invariants: blocks tile the region exactly, no two free blocks touch
    /// (coalescing did its job), and the free list is exactly the free blocks, in address
    /// order.
    fn assert_consistent<M: MemorySource>(heap: &Heap<M>) {
        let blocks: Vec<HeapBlock> = heap.blocks().collect();
        assert_eq!(blocks.iter().map(|b| b.size).sum::<usize>(), heap.size());
        for pair in blocks.windows(2) {
            assert!(
                pair[0].used || pair[1].used,
                "adjacent free blocks: {pair:?}"
            );
        }
        let free: Vec<HeapBlock> = blocks.iter().copied().filter(|b| !b.used).collect();
        assert_eq!(heap.free_list().collect::<Vec<_>>(), free);
        let used = blocks.iter().filter(|b| b.used).count();
        assert_eq!(heap.stats().in_use, used);
    }

    #[test]
    fn alloc_splits_the_first_free_block_and_free_merges_it_back() {
        let mut buffer = vec![0u8; 1024];
        let mut heap = Heap::new_in(512, SliceMemory::new(&mut buffer)).unwrap();
        let a = heap.alloc(24).unwrap();
        assert_eq!(heap.stats().splits, 1);
        assert_eq!(heap.blocks().count(), 2);
        heap.free(a).unwrap();
        assert_eq!(heap.stats().merges, 1);
        assert_eq!(heap.blocks().count(), 1);
        assert_eq!(heap.total_free(), 512);
        assert_consistent(&heap);
    }

    #[test]
    fn first_fit_takes_the_lowest_hole_that_fits() {
        let mut buffer = vec![0u8; 1024];
        let mut heap = Heap::new_in(512, SliceMemory::new(&mut buffer)).unwrap();
        let small = heap.alloc(16).unwrap();
        let _wall = heap.alloc(16).unwrap();
        let big = heap.alloc(64).unwrap();
        let _wall2 = heap.alloc(16).unwrap();
        heap.free(small).unwrap();
        heap.free(big).unwrap();
        // 40 bytes do not fit the 16-byte hole, so the search goes on to the 64-byte one.
        assert_eq!(heap.alloc(40), Some(big));
        // 8 bytes fit the first hole.
        assert_eq!(heap.alloc(8), Some(small));
        assert_consistent(&heap);
    }

    #[test]
    fn freeing_between_two_free_blocks_merges_all_three() {
        let mut buffer = vec![0u8; 1024];
        let mut heap = Heap::new_in(512, SliceMemory::new(&mut buffer)).unwrap();
        let blocks: Vec<_> = (0..4).map(|_| heap.alloc(16).unwrap()).collect();
        heap.free(blocks[0]).unwrap();
        heap.free(blocks[2]).unwrap();
        assert_eq!(heap.free_list().count(), 3);
        heap.free(blocks[1]).unwrap();
        assert_eq!(heap.free_list().count(), 2);
        let merged = heap.blocks().next().unwrap();
        assert_eq!(
            (merged.size, merged.used),
            (3 * Heap::block_size_for(16).unwrap(), false)
        );
        assert_consistent(&heap);
    }

    #[test]
    fn misuse_is_refused_and_the_heap_is_unchanged() {
        let mut buffer = vec![0u8; 1024];
        let mut heap = Heap::new_in(256, SliceMemory::new(&mut buffer)).unwrap();
        let a = heap.alloc(32).unwrap();
        let before: Vec<_> = heap.blocks().collect();
        let outside = 7u8;
        assert!(matches!(
            heap.free(NonNull::from(&outside)),
            Err(HeapFreeError::NotInHeap { .. })
        ));
        let inside = a.map_addr(|addr| addr.checked_add(8).unwrap());
        let err = heap.free(inside).unwrap_err();
        assert!(
            err.to_string().contains("8 bytes into the block at"),
            "{err}"
        );
        let header = a.map_addr(|addr| core::num::NonZero::new(addr.get() - WORD).unwrap());
        let err = heap.free(header).unwrap_err();
        assert!(err.to_string().contains("into the header"), "{err}");
        heap.free(a).unwrap();
        let after_free: Vec<_> = heap.blocks().collect();
        let err = heap.free(a).unwrap_err();
        assert!(err.to_string().starts_with("double free"), "{err}");
        assert_eq!(heap.blocks().collect::<Vec<_>>(), after_free);
        assert_ne!(before, after_free);
        assert_eq!(heap.stats().rejected_frees, 4);
        assert_consistent(&heap);
    }

    #[test]
    fn a_full_heap_refuses_and_counts_it() {
        let mut buffer = vec![0u8; 256];
        let mut heap = Heap::new_in(64, SliceMemory::new(&mut buffer)).unwrap();
        assert!(
            heap.alloc(64).is_none(),
            "a 64-byte request needs a header too"
        );
        let all = heap.alloc(heap.largest_request()).unwrap();
        assert_eq!(heap.alloc(1), None);
        assert_eq!(heap.stats().failed_allocs, 2);
        assert_eq!(heap.external_fragmentation(), 0.0);
        assert_eq!(heap.leaks().count(), 1);
        heap.free(all).unwrap();
        assert_eq!(heap.leaks().count(), 0);
    }

    #[test]
    fn an_unaligned_source_still_gives_aligned_blocks() {
        let mut buffer = vec![0u8; 300];
        let mut heap = Heap::new_in(128, SliceMemory::new(&mut buffer[1..])).unwrap();
        let block = heap.alloc(5).unwrap();
        assert_eq!(block.as_ptr().addr() % WORD, 0);
    }

    #[test]
    fn random_allocs_and_frees_keep_the_heap_consistent() {
        let mut buffer = vec![0u8; 4096];
        let mut heap = Heap::new_in(2048, SliceMemory::new(&mut buffer)).unwrap();
        let mut live = Vec::new();
        // A small linear congruential generator: deterministic, no dependency.
        let mut seed = 0x2545_f491_u64;
        let mut random = move |below: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % below
        };
        let steps = if cfg!(miri) { 60 } else { 2000 };
        for _ in 0..steps {
            if live.is_empty() || random(3) > 0 {
                if let Some(block) = heap.alloc(1 + random(120)) {
                    live.push(block);
                }
            } else {
                let block = live.swap_remove(random(live.len()));
                heap.free(block).unwrap();
            }
            assert_consistent(&heap);
        }
        for block in live.drain(..) {
            heap.free(block).unwrap();
        }
        assert_eq!(
            heap.blocks().count(),
            1,
            "everything merges back into one block"
        );
    }
}
