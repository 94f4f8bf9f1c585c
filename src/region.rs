//! The region: the one piece of memory a pool owns, and the only place that touches it.
//!
//! ```text
//!  base                                                  blocks
//!  │ padding │ chunk lists │ state bytes: one per block │ block 0 │ block 1 │ … │ block n-1 │
//!            └────────────── metadata ─────────────────┘└──── n blocks of `stride` bytes ────┘
//! ```
//!
//! Each block's state ([`BlockState`]) is one byte, so checking a `free` is one load, and
//! the bytes start as zero (= never used), so a fresh region needs no initialisation at all.
//! A free block stores the address of the next free block in one of its words: the free list
//! costs no memory of its own. In blocks of two cache lines or more that word is *coloured*:
//! it sits a few cache lines into the block, a different number for neighbouring blocks (see
//! [`Region::link`]).
//!
//! Free blocks are kept on one free list per *chunk*: the blocks that start in the same
//! 16 KiB-aligned 16 KiB of memory (see [`CHUNK_BYTES`]). The pool hands out blocks from one
//! chunk's list at a time, so blocks handed out one after another lie close together even
//! when they were freed in random order (mimalloc keeps a free list per page for the same reason). The lists of the
//! other chunks wait in the metadata: a head per chunk, and a stack of the chunks whose list
//! is not empty. Each list ends with an *end mark*: the address of one of its chunk's blocks
//! plus one, odd, so never a block, and it still says which chunk the (empty) list belongs
//! to.
//!
//! Every `unsafe` access to the region lives in this file; each takes a block index that the
//! caller has checked against [`Region::count`], the address of a block start, or what
//! [`Region::find`] found at one.

use core::alloc::Layout;
use core::num::NonZeroUsize;
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::AtomicU8;
use core::sync::atomic::Ordering::Relaxed;

use crate::memory::MemorySource;
use crate::{BlockState, PoolError};

/// Where an address falls relative to the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    /// Exactly at the start of block `index`.
    BlockStart(usize),
    /// `offset` bytes into block `index`.
    Inside { index: usize, offset: usize },
    /// Not in any block.
    Outside,
}

/// A block start as [`Region::find`] found it: where its state byte and its free-list link
/// are. Only `find` makes one, so holding one means the block exists.
#[derive(Clone, Copy)]
pub(crate) struct Found {
    /// The state byte's offset from the first block: negative, wrapped (the state bytes lie
    /// below the blocks).
    state: usize,
    /// The block.
    block: NonNull<u8>,
}

pub(crate) struct Region<M: MemorySource> {
    // Every `alloc` and `free` reads these four words and nothing else of the region's
    // description: loads, not arithmetic, are what a pool operation runs short of.
    /// The first block; the state bytes are the `count` bytes just below it.
    blocks: NonNull<u8>,
    count: usize,
    /// `stride = odd · 2^shift`, and `inverse · odd ≡ 1 (mod 2^BITS)`: see [`Region::locate`].
    inverse: usize,
    shape: Shape,
    /// The chunk lists: a list head per chunk (null: empty), and for each chunk on the stack of
    /// chunks with free blocks, the chunk below it.
    chunk_heads: NonNull<*mut u8>,
    chunk_below: NonNull<usize>,
    /// The chunk on top of that stack, or [`NO_CHUNK`].
    stack_top: usize,
    /// Chunk `i` is the 16 KiB from `(first_chunk + i) × CHUNK_BYTES`.
    first_chunk: usize,
    // For everything else.
    stride: usize,
    /// `stride × count`: the addresses `blocks .. blocks + blocks_len` are blocks.
    blocks_len: usize,
    base: NonNull<u8>,
    size: usize,
    memory: M,
}

/// Small numbers the hot paths need, packed in one word so they cost one load: `shift`
/// (bits 0–5), whether links are coloured (bit 7), `colour_shift` (bits 8–15) and
/// `colour_bits` (bits 16–31).
///
/// `shift` sits lowest on purpose: a rotate by the whole word rotates by `shift`, because
/// rotation amounts count modulo the word's bit width (and 256 is a multiple of 32 and 64).
#[derive(Clone, Copy)]
struct Shape(u32);

const COLOURED: u32 = 1 << 7;

impl Shape {
    /// The shape of blocks `stride` bytes apart.
    fn for_stride(stride: usize) -> Shape {
        Shape::new(
            stride.trailing_zeros(),
            colour_shift(stride),
            (colours(stride) - 1) * CACHE_LINE,
        )
    }

    fn new(shift: u32, colour_shift: u32, colour_bits: usize) -> Shape {
        debug_assert!(shift < 64 && colour_shift < 256 && colour_bits < 1 << 16);
        let coloured = if colour_bits != 0 { COLOURED } else { 0 };
        Shape(shift | coloured | colour_shift << 8 | (colour_bits as u32) << 16)
    }

    /// Whether links are coloured at all (blocks of two cache lines or more).
    #[inline(always)]
    fn coloured(self) -> bool {
        self.0 & COLOURED != 0
    }

    /// Rotates `x` right by `shift`.
    #[inline(always)]
    fn rotate(self, x: usize) -> usize {
        x.rotate_right(self.0)
    }

    /// Where the block at `block` of this shape keeps its link (see [`Region::link_slot`]).
    ///
    /// # Safety
    ///
    /// `block` is the start of a block of this shape.
    #[inline(always)]
    unsafe fn link_slot(self, block: *mut u8) -> *mut *mut u8 {
        if !self.coloured() {
            return block.cast();
        }
        // Laid out off the straight path, so that small blocks run through without a jump.
        cold_path();
        let offset = self.link_offset(block.addr());
        // SAFETY: `offset <= colour_bits <= stride - 64` (see `colours`), so the slot lies
        // inside the block; it is a multiple of 64 into a pointer-aligned block.
        unsafe { block.add(offset).cast::<*mut u8>() }
    }

    /// Which bytes into the block at `addr` its free-list link sits:
    /// `(addr >> colour_shift) & colour_bits`, a whole number of cache lines (see
    /// [`Region::link_slot`]).
    #[inline(always)]
    fn link_offset(self, addr: usize) -> usize {
        addr.wrapping_shr(self.0 >> 8) & (self.0 >> 16) as usize
    }
}

/// A block's state byte, to read and write atomically.
///
/// A [`SizeClasses`](crate::SizeClasses) thread's cache checks and marks the state bytes of
/// the blocks it takes without the class's lock (relaxed atomics: plain byte loads and
/// stores on x86-64, AArch64 and wasm32). What else may touch such a byte at the same time:
/// a snapshot of the region's states ([`Region::states`], atomic too), and the class's
/// cache (through this too). The pool's own `alloc` and `free` stay plain accesses, under
/// the class's lock: they touch a byte a thread's cache holds only when the program frees
/// that block again, which a correct hand-over between threads orders after the cache's
/// write (two threads freeing one block at the same instant is the one case no check sees,
/// and a race in the program). Plain, they keep the `Pool` hot path as it was: atomics
/// there cost `alloc` + `free` pairs 14 % (1.45 against 1.27 ns), as the compiler could no
/// longer drop a state write the next call overwrites.
///
/// # Safety
///
/// `state` is one of a live region's state bytes.
#[inline(always)]
#[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
pub(crate) unsafe fn state_cell<'a>(state: *mut u8) -> &'a AtomicU8 {
    // SAFETY: the caller's byte is initialised and lives as long as its region; a `u8` is
    // always aligned for `AtomicU8`, and every access that may race with this one is atomic
    // too (see above).
    unsafe { AtomicU8::from_ptr(state) }
}

/// The byte a block's state holds while it waits in a [`SizeClasses`](crate::SizeClasses)
/// class's cache of freed blocks: not [`BlockState::Free`] (the pool's lists never hold it,
/// and the pool never hands it out) and not [`BlockState::InUse`] (so a second `free` of it
/// is refused as a double free). Read back, it shows as free: the program gave it back.
pub(crate) const CACHED: u8 = 3;

/// The four words of a region that finding a block needs (see [`Region::find`]), copied out
/// so that code in front of a pool can check a pointer against the region without reaching
/// into the pool: `SizeClasses` keeps one beside each class's lock. All zeros
/// ([`RegionView::NONE`]) finds nothing.
///
/// A view must not outlive its region's memory: a pool keeps its regions' addresses until
/// it drops (giving memory back keeps them), and the view is kept no longer.
// Only `SizeClasses` (64-bit atomics) uses it.
#[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
#[derive(Clone, Copy)]
pub(crate) struct RegionView {
    /// The first block (null in [`NONE`](Self::NONE)), with the region's provenance.
    blocks: *mut u8,
    count: usize,
    inverse: usize,
    shape: Shape,
}

#[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
impl RegionView {
    /// The view of no region: no address is a block in it.
    pub(crate) const NONE: RegionView = RegionView {
        blocks: null_mut(),
        count: 0,
        inverse: 0,
        shape: Shape(0),
    };

    /// If a block starts at `addr`, a pointer to its state byte, with the region's
    /// provenance: the same arithmetic as [`Region::find`].
    #[inline(always)]
    pub(crate) fn state_byte(&self, addr: usize) -> Option<*mut u8> {
        let offset = addr.wrapping_sub(self.blocks.addr());
        let index = self.shape.rotate(offset.wrapping_mul(self.inverse));
        let (state, is_block_start) = index.overflowing_sub(self.count);
        // `state` is the (negative) offset of the state byte from the first block.
        is_block_start.then(|| self.blocks.wrapping_add(state))
    }

    /// The block at `addr`, with the region's provenance (see [`Region::reclaim`]).
    #[inline(always)]
    pub(crate) fn block(&self, addr: usize) -> *mut u8 {
        self.blocks.with_addr(addr)
    }

    /// Where the block at `block` keeps its free-list link: the same slot as the pool's
    /// (see [`Region::link_slot`]).
    ///
    /// # Safety
    ///
    /// [`state_byte`](Self::state_byte) found a block starting at `block`.
    #[inline(always)]
    pub(crate) unsafe fn link_slot(&self, block: *mut u8) -> *mut *mut u8 {
        // SAFETY: the caller's block is a block of the region.
        unsafe { self.shape.link_slot(block) }
    }
}

impl<M: MemorySource> Region<M> {
    /// The view of this region (see [`RegionView`]).
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn view(&self) -> RegionView {
        RegionView {
            blocks: self.blocks.as_ptr(),
            count: self.count,
            inverse: self.inverse,
            shape: self.shape,
        }
    }

    /// Asks `memory` for room for `count` state bytes and `count` blocks of `stride` bytes
    /// aligned to `align` (a power of two that divides `stride`).
    pub(crate) fn new(
        stride: usize,
        align: usize,
        count: usize,
        mut memory: M,
    ) -> Result<Self, PoolError> {
        debug_assert!(align.is_power_of_two() && stride % align == 0 && stride >= 4);
        let too_large = PoolError::TooLarge {
            block_size: stride,
            block_count: count,
        };
        // Below the blocks: the state bytes, and below them (word-aligned) the chunk heads and
        // the chunk stack's links.
        let metadata = metadata_size(stride, count).ok_or(too_large)?;
        let Carved { base, size, blocks } =
            carve(&mut memory, metadata, stride, align, count, too_large)?;
        let first = blocks.as_ptr().addr();
        let first_chunk = first / CHUNK_BYTES;
        // (`metadata_size` made room for every chunk the blocks can start in.)
        let chunks = (first + stride * (count - 1)) / CHUNK_BYTES - first_chunk + 1;
        let word = size_of::<usize>();
        let lists_end = (first - count) & !(word - 1);
        // SAFETY: `carve` left `metadata` bytes below the blocks, so the two arrays of `chunks`
        // words end at or below the state bytes and start at or above `base`; word-aligned.
        let (chunk_heads, chunk_below) = unsafe {
            let heads =
                blocks.with_addr(NonZeroUsize::new_unchecked(lists_end - 2 * chunks * word));
            (
                heads.cast::<*mut u8>(),
                heads.add(chunks * word).cast::<usize>(),
            )
        };
        let blocks_len = stride * count; // `carve` checked that the region fits
        Ok(Region {
            memory,
            base,
            size,
            blocks,
            stride,
            count,
            blocks_len,
            inverse: inverse_of_odd(stride >> stride.trailing_zeros()),
            shape: Shape::for_stride(stride),
            first_chunk,
            chunk_heads,
            chunk_below,
            stack_top: NO_CHUNK,
        })
    }

    /// How many blocks there are.
    #[inline(always)]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Bytes from one block's start to the next.
    #[inline(always)]
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// The region's first byte, its size, and the first block, as addresses.
    pub(crate) fn addresses(&self) -> (usize, usize, usize) {
        (
            self.base.as_ptr().addr(),
            self.size,
            self.blocks.as_ptr().addr(),
        )
    }

    /// Where `addr` falls: O(1), and on the path every correct `free` takes, one subtraction,
    /// one multiply, one rotate and one compare. No division:
    ///
    /// Write `stride = odd · 2^shift`. Multiplying by the inverse of `odd` (mod 2^BITS) undoes
    /// a multiplication by `odd` exactly, so for `offset = k · stride` the product is
    /// `k · 2^shift`, and rotating it right by `shift` gives `k`. For any other offset the
    /// result is huge: if `offset` is not a multiple of `2^shift`, its low bits are not zero and
    /// the rotate moves them to the top; if it is but `offset >> shift` is not a multiple of
    /// `odd`, the product lands above `(2^BITS - 1) / odd` (the divisibility test of Granlund
    /// and Montgomery). Either way it is at least `count`, because the region fits in `isize`.
    /// So `index < count` says "a block start, inside the blocks" in one compare; addresses
    /// below the blocks wrap around to huge offsets and fail it too.
    #[inline(always)]
    pub(crate) fn locate(&self, addr: usize) -> Location {
        let offset = addr.wrapping_sub(self.blocks.as_ptr().addr());
        let index = self.index_of_offset(offset);
        if index < self.count {
            Location::BlockStart(index)
        } else if offset < self.blocks_len {
            // Only misuse lands here, so a real division is fine.
            Location::Inside {
                index: offset / self.stride,
                offset: offset % self.stride,
            }
        } else {
            Location::Outside
        }
    }

    /// The block index `locate` finds for `addr` if it is a block start; some number at least
    /// [`count`](Self::count) if it is not. The hot paths use this form: one compare decides.
    #[inline(always)]
    pub(crate) fn index_of(&self, addr: usize) -> usize {
        self.index_of_offset(addr.wrapping_sub(self.blocks.as_ptr().addr()))
    }

    #[inline(always)]
    fn index_of_offset(&self, offset: usize) -> usize {
        self.shape.rotate(offset.wrapping_mul(self.inverse))
    }

    /// If `ptr` is the start of a block, what `alloc` and `free` need to know of it: where
    /// its state byte is ([`state_of`](Self::state_of)) and its free-list link
    /// ([`link_of`](Self::link_of)). `None` for any other address. `ptr` should carry this
    /// region's provenance ([`reclaim`](Self::reclaim)): the link is found through it.
    ///
    /// [`index_of`](Self::index_of) for the hot paths, with one saving: rather than compare
    /// the index with `count` and then add it to the state bytes' start (`blocks - count`),
    /// it subtracts `count` once. The subtraction borrows exactly when `index < count`, and
    /// what it leaves, `index - count`, is the state byte's (negative) offset from the first
    /// block.
    #[inline(always)]
    pub(crate) fn find(&self, ptr: *mut u8) -> Option<Found> {
        let index = self.index_of(ptr.addr());
        let (state, is_block_start) = index.overflowing_sub(self.count);
        if !is_block_start {
            return None;
        }
        // SAFETY: a block start is not null.
        let block = unsafe { NonNull::new_unchecked(ptr) };
        Some(Found { state, block })
    }

    /// Where block `found` keeps its free-list link (see [`link_slot`](Self::link_slot)).
    #[inline(always)]
    pub(crate) fn link_of(&self, found: Found) -> NonNull<*mut u8> {
        // SAFETY: `find` found `found.block` to be a block start.
        unsafe { self.link_slot(found.block) }
    }

    /// Block `found`'s state byte.
    ///
    /// # Safety
    ///
    /// `found` came from this region's [`find`](Self::find).
    #[inline(always)]
    pub(crate) unsafe fn state_of(&self, found: Found) -> u8 {
        // SAFETY: `find` made `found.state` the offset from the first block of one of the
        // state bytes, which are inside the region and initialised.
        unsafe { self.blocks.as_ptr().wrapping_add(found.state).read() }
    }

    /// Sets block `found`'s state byte.
    ///
    /// # Safety
    ///
    /// `found` came from this region's [`find`](Self::find).
    #[inline(always)]
    pub(crate) unsafe fn set_state_of(&mut self, found: Found, state: BlockState) {
        // SAFETY: as in `state_of`; we own the region mutably.
        unsafe {
            self.blocks
                .as_ptr()
                .wrapping_add(found.state)
                .write(state as u8)
        }
    }

    /// The same address as `ptr`, as a pointer into this region (with the region's
    /// provenance): how a pointer a caller passed in becomes ours, before [`find`](Self::find)
    /// looks it up.
    #[inline(always)]
    pub(crate) fn reclaim(&self, ptr: NonNull<u8>) -> NonNull<u8> {
        self.blocks.with_addr(ptr.addr())
    }

    /// Where the state bytes start: `count` bytes below the first block. (The hot paths do
    /// not need it: [`find`](Self::find) gives them the state byte's offset from the first
    /// block directly.)
    #[inline(always)]
    fn states_start(&self) -> NonNull<u8> {
        // SAFETY: `carve` left at least `count` bytes of metadata below the blocks.
        unsafe { self.blocks.sub(self.count) }
    }

    /// The state bytes, one per block, in address order.
    pub(crate) fn states(&self) -> &[AtomicU8] {
        // SAFETY: the `count` bytes below the blocks are the state bytes; they are
        // initialised (the source zeroes them). Read as atomics (`AtomicU8` has the layout
        // of `u8`), so that a snapshot races with no thread's cache (see [`state_cell`]).
        unsafe {
            core::slice::from_raw_parts(self.states_start().as_ptr().cast::<AtomicU8>(), self.count)
        }
    }

    /// Sets block `index`'s state byte.
    ///
    /// # Safety
    ///
    /// `index < self.count()`.
    #[inline(always)]
    pub(crate) unsafe fn set_state(&mut self, index: usize, state: BlockState) {
        debug_assert!(index < self.count);
        // SAFETY: the caller checked `index < count`; we own the region mutably.
        unsafe { self.states_start().add(index).write(state as u8) }
    }

    /// The start of block `index`.
    ///
    /// # Safety
    ///
    /// `index < self.count()`.
    #[inline(always)]
    pub(crate) unsafe fn block(&self, index: usize) -> NonNull<u8> {
        debug_assert!(index < self.count);
        // SAFETY: `index * stride < blocks_len`, so the block lies inside the region.
        unsafe { self.blocks.add(index * self.stride) }
    }

    /// Where a free block keeps its link: a whole number of cache lines into the block,
    /// picked by a few bits of the block's address.
    ///
    /// Why not always the first word: with 4 KiB blocks every block starts at the same offset
    /// of its page, so first words all map to the same cache set, and a batch of frees
    /// evicts its own links (measured 2–3× slower batches than at 64 bytes). Staggering the
    /// link by one cache line from one block to the next spreads the links over `colours`
    /// sets, like slab allocators "colour" their objects, without changing where blocks are.
    /// The bits are the lowest ones that differ between neighbouring blocks
    /// (`colour_shift`), so it costs a shift, a mask and an add: no multiply on the path
    /// from one free block to the next.
    ///
    /// # Safety
    ///
    /// `block` is the start of one of this region's blocks.
    #[inline(always)]
    pub(crate) unsafe fn link_slot(&self, block: NonNull<u8>) -> NonNull<*mut u8> {
        // SAFETY: the caller's block is one of ours; a slot inside a non-null block is not
        // null.
        unsafe { NonNull::new_unchecked(self.shape.link_slot(block.as_ptr())) }
    }

    /// Where block `index` keeps its link (when it is free), as an address.
    ///
    /// # Safety
    ///
    /// `index < self.count()`.
    pub(crate) unsafe fn link_address(&self, index: usize) -> usize {
        // SAFETY: the caller checked `index`, so this is one of the region's blocks.
        unsafe { self.link_slot(self.block(index)) }.addr().get()
    }

    /// The free-list link stored in a free block: the address of the next free block, or an
    /// end mark (see [`end_mark_at`](Self::end_mark_at)). Whatever the block holds is returned as it is: a use-after-free
    /// may have written anything there, so callers check it before following it.
    ///
    /// # Safety
    ///
    /// `block` is the start of one of this region's blocks, and the block is free (its link
    /// slot holds a link, or at least initialised bytes written by whoever used it last).
    #[inline(always)]
    pub(crate) unsafe fn link(&self, block: NonNull<u8>) -> *mut u8 {
        // SAFETY: the slot is an aligned pointer-sized word inside the block (`link_slot`); a
        // free block is not handed out, so nobody else is writing it.
        unsafe { self.link_slot(block).read() }
    }

    /// If block `index` is free, the index of the block its link points to: the next block
    /// `alloc` would pop, or [`count`](Self::count) or more where the list ends (at the end
    /// mark, or at a link a use-after-free overwrote). For introspection.
    pub(crate) fn checked_link(&self, index: usize) -> Option<usize> {
        let free = self.states().get(index)?.load(Relaxed) == BlockState::Free as u8;
        // SAFETY: `index < count` (the `get` above) and the block is free.
        let next = free.then(|| unsafe { self.link(self.block(index)) })?;
        Some(self.index_of(next.addr()))
    }
}

impl<M: MemorySource> Region<M> {
    /// The chunk of this region that address `addr` lies in.
    #[inline(always)]
    pub(crate) fn chunk_of(&self, addr: usize) -> usize {
        (addr / CHUNK_BYTES).wrapping_sub(self.first_chunk)
    }

    /// Whether addresses `a` and `b` lie in the same chunk: the same 16 KiB-aligned 16 KiB,
    /// so the bits above the low 14 agree.
    #[inline(always)]
    pub(crate) fn same_chunk(&self, a: usize, b: usize) -> bool {
        a ^ b < CHUNK_BYTES
    }

    /// An end mark for the list of the chunk block `addr` lies in: the block's address plus
    /// one. Odd, so no block starts there (blocks are word-aligned), and in the same chunk, so
    /// an empty list still says which chunk it belongs to. Never dereferenced.
    #[inline(always)]
    pub(crate) fn end_mark_at(&self, addr: usize) -> *mut u8 {
        self.blocks.as_ptr().with_addr(addr | 1)
    }

    /// The empty list of the chunk of the first block: where a new pool starts, and where it
    /// goes on after dropping a damaged list.
    pub(crate) fn empty_list(&self) -> *mut u8 {
        self.end_mark_at(self.blocks.as_ptr().addr())
    }

    /// Whether `p` is an end mark: an odd address. (A use-after-free that writes an odd
    /// value over a link ends that list there: the blocks after it are cut off, as with any
    /// other damage, only not counted as damage.)
    pub(crate) fn is_end_mark(&self, p: *mut u8) -> bool {
        p.addr() % 2 == 1
    }

    /// Makes `block` the head of its chunk's own list (not the list being handed out from)
    /// and returns what it must link to: the old head, or the chunk's end mark if the list
    /// was empty. Such a chunk goes onto the stack of chunks with free blocks, so every chunk
    /// with a non-empty list is on the stack exactly once.
    ///
    /// # Safety
    ///
    /// `chunk` is the chunk of one of this region's blocks.
    #[inline]
    pub(crate) unsafe fn push_onto_chunk(&mut self, chunk: usize, block: NonNull<u8>) -> *mut u8 {
        // SAFETY: `chunk` is a chunk of this region, so its head and stack link are inside the
        // arrays.
        unsafe {
            let head = self.chunk_heads.add(chunk);
            let old = head.replace(block.as_ptr());
            if !old.is_null() {
                return old;
            }
            self.chunk_below.add(chunk).write(self.stack_top);
            self.stack_top = chunk;
            self.end_mark_at(block.addr().get())
        }
    }

    /// Takes the chunk on top of the stack and returns its whole list (the chunk's own list is
    /// then empty, and the chunk off the stack), or `None` when no chunk has free blocks
    /// waiting.
    #[inline]
    pub(crate) fn pop_chunk(&mut self) -> Option<*mut u8> {
        let chunk = self.stack_top;
        if chunk == NO_CHUNK {
            return None;
        }
        // SAFETY: only chunks of this region are ever pushed, so `chunk` indexes both arrays.
        unsafe {
            self.stack_top = self.chunk_below.add(chunk).read();
            let head = self.chunk_heads.add(chunk);
            let list = head.read();
            head.write(null_mut());
            Some(list)
        }
    }

    /// Gives the region's memory back to the source but keeps its addresses; afterwards every
    /// byte reads as zero again, so the region is as `new` made it: every block never used,
    /// every chunk list empty. `false` if the source cannot (nothing changed then).
    ///
    /// # Safety
    ///
    /// No block is in use: whatever the blocks hold is lost.
    pub(crate) unsafe fn decommit(&mut self) -> bool {
        // SAFETY: `base` and `size` are the pair `acquire` returned, still ours; the caller
        // guarantees no block is in use, and the metadata is ours alone.
        if !unsafe { self.memory.decommit(self.base, self.size) } {
            return false;
        }
        // Zeroed chunk heads are empty lists; the stack of chunks with free blocks lives here.
        self.stack_top = NO_CHUNK;
        true
    }

    /// The chunks waiting on the stack, top first, as the block index of each one's list head
    /// (for introspection: after the list being handed out from, `alloc` takes them in this
    /// order).
    pub(crate) fn waiting_chunks(&self) -> WaitingChunks<'_, M> {
        WaitingChunks {
            region: self,
            chunk: self.stack_top,
        }
    }
}

/// See [`Region::waiting_chunks`].
pub(crate) struct WaitingChunks<'a, M: MemorySource> {
    region: &'a Region<M>,
    chunk: usize,
}

impl<M: MemorySource> Iterator for WaitingChunks<'_, M> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.chunk == NO_CHUNK {
            return None;
        }
        // SAFETY: chunks on the stack index both arrays (as in `pop_chunk`); reading them does
        // not change anything.
        let (head, below) = unsafe {
            (
                self.region.chunk_heads.add(self.chunk).read(),
                self.region.chunk_below.add(self.chunk).read(),
            )
        };
        self.chunk = below;
        Some(self.region.index_of(head.addr()))
    }
}

impl<M: MemorySource> Drop for Region<M> {
    fn drop(&mut self) {
        // SAFETY: `base` and `size` are the pair `acquire` returned, released only here.
        unsafe { self.memory.release(self.base, self.size) }
    }
}

/// Marks the path it is called on as the less common one (for the code layout only: it does
/// nothing). The stable spelling of the unstable `core::hint::cold_path`.
#[cold]
#[inline(always)]
pub(crate) fn cold_path() {}

/// The cache-line size the link colouring staggers by (64 bytes on every current x86-64 and
/// most Arm cores; a wrong guess only makes colouring less effective, never unsafe).
const CACHE_LINE: usize = 64;

/// How many link positions (colours) a block of `stride` bytes offers: the largest power of
/// two of whole cache lines that fit, at most 64 (a 4 KiB page of lines). The last colour's
/// slot starts at `(colours - 1) × 64 <= stride - 64`, so the link always fits.
///
/// Built with `--cfg memory_pool_uncoloured` (`make bench` does so once, for the before/after
/// of the 4 KiB benchmarks), there is one colour: every link in its block's first word.
fn colours(stride: usize) -> usize {
    if cfg!(memory_pool_uncoloured) {
        return 1;
    }
    let lines = (stride / CACHE_LINE).clamp(1, 64);
    1 << lines.ilog2()
}

/// The empty chunk stack.
const NO_CHUNK: usize = usize::MAX;

/// A chunk is a 16 KiB-aligned 16 KiB of memory: small enough that handing out one chunk's
/// blocks stays within the L1 cache and a few TLB entries, large enough that switching chunks
/// is rare (every 256 blocks of 64 bytes). Aligned, so that "same chunk?" is one XOR and one
/// compare of two addresses. A block belongs to the chunk it starts in.
pub(crate) const CHUNK_BYTES: usize = 16 << 10;

/// The metadata a pool of `count` blocks of `stride` bytes needs below its blocks: a state
/// byte per block, and two words per chunk its blocks may start in (wherever the blocks land,
/// they start in at most `span / CHUNK_BYTES + 2` chunks), plus a word to align them.
pub(crate) const fn metadata_size(stride: usize, count: usize) -> Option<usize> {
    let word = size_of::<usize>();
    let Some(span) = stride.checked_mul(count.saturating_sub(1)) else {
        return None;
    };
    let Some(lists) = (span / CHUNK_BYTES + 2).checked_mul(2 * word) else {
        return None;
    };
    lists.checked_add(count + word - 1)
}

/// How far to shift a block's address so that the lowest bit that differs between
/// neighbouring blocks (the top bit of the stride) lands on bit 6, the first cache-line bit.
fn colour_shift(stride: usize) -> u32 {
    stride.ilog2().saturating_sub(CACHE_LINE.ilog2())
}

/// A block's stride and alignment for `layout`: at least a `usize` (a free block holds a
/// link) and aligned to at least a `usize`; `None` if the size overflows. Shared by every
/// pool in the crate, so they all lay blocks out alike.
///
/// The blocks start as far into a cache line as their stride lets them stay put: on a
/// cache-line boundary when the stride is a multiple of 64 bytes, on a 16-byte boundary
/// when it is a multiple of 16, and so on. Then no block of 64 bytes (or 16, or 32) straddles
/// two cache lines, which would make every use of it touch two; the padding this costs is
/// under 64 bytes per pool.
pub(crate) const fn block_shape(layout: Layout) -> Option<(usize, usize)> {
    let align = if layout.align() > align_of::<usize>() {
        layout.align()
    } else {
        align_of::<usize>()
    };
    let size = if layout.size() > size_of::<usize>() {
        layout.size()
    } else {
        size_of::<usize>()
    };
    let Some(stride) = size.checked_next_multiple_of(align) else {
        return None;
    };
    // The largest power of two that divides the stride (at least `align`, which divides it),
    // but no more than a cache line, or `align` if that is more.
    let most = if align > CACHE_LINE {
        align
    } else {
        CACHE_LINE
    };
    let within_a_line = 1 << stride.trailing_zeros();
    let placement = if within_a_line < most {
        within_a_line
    } else {
        most
    };
    Some((stride, placement))
}

/// A fresh region from [`carve`]: its start and size as the source gave them, and where the
/// first block is.
pub(crate) struct Carved {
    pub(crate) base: NonNull<u8>,
    pub(crate) size: usize,
    pub(crate) blocks: NonNull<u8>,
}

/// Asks `memory` for one region laid out as `metadata` bytes, padding up to `align`, then
/// `count` blocks of `stride` bytes; `too_large` is the error when that overflows `isize`.
pub(crate) fn carve<M: MemorySource>(
    memory: &mut M,
    metadata: usize,
    stride: usize,
    align: usize,
    count: usize,
    too_large: PoolError,
) -> Result<Carved, PoolError> {
    let size = region_size(metadata, stride, align, count).ok_or(too_large)?;
    let blocks = stride * count;
    // A source that can place the region so that the blocks fall on their alignment (linear
    // memory on wasm32) saves the `align − 1` bytes of room to align them: for the 128 KiB
    // class of `SizeClasses`, as much as its block.
    let (base, size) = match memory.acquire_aligned(metadata, blocks, align) {
        Some((base, placed))
            if metadata + padding_after(base, metadata, align) + blocks <= placed =>
        {
            (base, placed)
        }
        Some((base, placed)) => {
            // Not the promised layout: refused rather than trusted.
            // SAFETY: the pair `acquire_aligned` just returned, unused.
            unsafe { memory.release(base, placed) };
            return Err(PoolError::OutOfMemory { bytes: size });
        }
        None => (
            memory
                .acquire(size)
                .ok_or(PoolError::OutOfMemory { bytes: size })?,
            size,
        ),
    };
    let padding = padding_after(base, metadata, align);
    // SAFETY: `metadata + padding + stride · count <= size`, so this stays inside the region.
    let blocks = unsafe { base.add(metadata + padding) };
    Ok(Carved { base, size, blocks })
}

/// The bytes between `metadata` bytes at `base` and the next multiple of `align`.
fn padding_after(base: NonNull<u8>, metadata: usize, align: usize) -> usize {
    let metadata_end = base.as_ptr().addr() + metadata;
    metadata_end.next_multiple_of(align) - metadata_end
}

/// How many bytes a region of `metadata` bytes and `count` blocks of `stride` bytes aligned
/// to `align` takes (with room to align the blocks wherever the memory starts), or `None`
/// past `isize::MAX`.
pub(crate) const fn region_size(
    metadata: usize,
    stride: usize,
    align: usize,
    count: usize,
) -> Option<usize> {
    let Some(blocks) = stride.checked_mul(count) else {
        return None;
    };
    match blocks.checked_add(metadata) {
        Some(size) if size <= isize::MAX as usize - (align - 1) => Some(size + (align - 1)),
        _ => None,
    }
}

/// How many bytes a pool of `count` blocks of `stride` bytes aligned to `align` asks its memory
/// source for.
pub(crate) const fn pool_region_size(stride: usize, align: usize, count: usize) -> Option<usize> {
    match metadata_size(stride, count) {
        Some(metadata) => region_size(metadata, stride, align, count),
        None => None,
    }
}

/// The inverse of an odd number modulo `2^BITS`, by Newton's iteration: `x = odd` is right in
/// its low 3 bits (`odd² ≡ 1 mod 8`), and each step `x ← x · (2 − odd · x)` doubles the number
/// of right bits: 6, 12, 24, 48, 96.
fn inverse_of_odd(odd: usize) -> usize {
    debug_assert!(odd % 2 == 1);
    let mut inverse = odd;
    for _ in 0..5 {
        inverse = inverse.wrapping_mul(2usize.wrapping_sub(odd.wrapping_mul(inverse)));
    }
    inverse
}

#[cfg(test)]
mod tests {
    use std::vec;

    use super::*;

    #[test]
    fn coloured_link_slots_fit_inside_their_block() {
        for stride in [
            8,
            16,
            64,
            72,
            120,
            128,
            192,
            1000,
            4096,
            4104,
            65536,
            1 << 20,
        ] {
            let colours = colours(stride);
            assert!(
                colours.is_power_of_two() && colours <= 64,
                "stride {stride}"
            );
            assert!((colours - 1) * CACHE_LINE + size_of::<usize>() <= stride.max(8));
        }
        assert_eq!(colours(64), 1);
        assert_eq!(colours(4096), 64);
    }

    #[test]
    fn a_packed_shape_rotates_by_its_shift_alone_and_offsets_inside_the_block() {
        let stride_bits = usize::BITS - 1;
        for shift in 0..stride_bits {
            for stride in [1usize << shift, 3 << shift.min(stride_bits - 2)] {
                let colour_bits = (colours(stride) - 1) * CACHE_LINE;
                let shape = Shape::for_stride(stride);
                assert_eq!(shape.coloured(), colour_bits != 0, "stride {stride}");
                for x in [1usize, 0x1234_5678, usize::MAX / 3] {
                    let rotated = x.rotate_right(stride.trailing_zeros());
                    assert_eq!(shape.rotate(x), rotated, "stride {stride}");
                    let offset = shape.link_offset(x);
                    assert!(offset % CACHE_LINE == 0 && offset <= colour_bits);
                }
            }
        }
    }

    /// The offsets from a region's first block that the address tests try: every one of
    /// `0..stride * (count + 2)` natively; under Miri, which interprets each, the ones around
    /// each block start (just before, at, just after, a word in, the middle, the last byte).
    fn offsets_to_try(stride: usize, count: usize) -> impl Iterator<Item = usize> {
        let end = stride * (count + 2);
        let all = (!cfg!(miri)).then_some(0..end).into_iter().flatten();
        let word = size_of::<usize>();
        let near_starts = (0..count + 2)
            .filter(|_| cfg!(miri))
            .flat_map(move |index| {
                let start = index * stride;
                let around = [0, 1, 2, word + 1, stride / 2 + 1, stride];
                // `start - 1 + k`: wrapping, so that the first block's "just before" drops out.
                around.map(|k| start.wrapping_sub(1).wrapping_add(k))
            });
        let near_starts = near_starts.filter(move |&offset| offset < end);
        all.chain(near_starts)
    }

    /// A stride whose region only just fits in `isize`, on 32-bit and 64-bit targets alike.
    const HUGE: usize = (isize::MAX as usize / 3) & !7;

    #[test]
    fn locate_finds_exactly_the_block_starts() {
        let word = size_of::<usize>();
        for stride in [
            8,
            24,
            40,
            48,
            64,
            72,
            96,
            4096,
            4104,
            1 << 20,
            1_000_008,
            3 << 30,
        ] {
            let stride = stride / word * word;
            let mut buffer = vec![0u8; 1 << 16];
            let count = 5;
            // A region whose blocks lie far beyond the buffer: `locate` only does arithmetic.
            let region = Region::new(stride, word, count, crate::SliceMemory::new(&mut buffer));
            let Ok(region) = region else {
                continue; // too large for the test buffer: the arithmetic is tested below
            };
            let first = region.blocks.as_ptr().addr();
            for offset in offsets_to_try(stride, count).chain([usize::MAX - 7, usize::MAX]) {
                let expected = if offset < stride * count && offset % stride == 0 {
                    Location::BlockStart(offset / stride)
                } else if offset < stride * count {
                    Location::Inside {
                        index: offset / stride,
                        offset: offset % stride,
                    }
                } else {
                    Location::Outside
                };
                assert_eq!(
                    region.locate(first.wrapping_add(offset)),
                    expected,
                    "stride {stride}, offset {offset}"
                );
                // Addresses below the first block.
                if offset > 0 && offset < 4 * stride {
                    assert_eq!(region.locate(first.wrapping_sub(offset)), Location::Outside);
                }
            }
        }
    }

    #[test]
    fn find_agrees_with_locate_state_bytes_and_link_slots() {
        let word = size_of::<usize>();
        for stride in [8usize, 16, 24, 32, 64, 72, 128, 192, 4096, 4104] {
            let count = 5;
            let mut buffer = vec![0u8; pool_region_size(stride, word, count).unwrap()];
            let memory = crate::SliceMemory::new(&mut buffer);
            let mut region = Region::new(stride, word, count, memory).unwrap();
            let states = [BlockState::NeverUsed, BlockState::Free, BlockState::InUse];
            for index in 0..count {
                // SAFETY: `index < count`.
                unsafe { region.set_state(index, states[index % 3]) };
            }
            let first = region.blocks.as_ptr();
            let below = offsets_to_try(stride, count).map(|offset| -(offset as isize));
            let above = offsets_to_try(stride, count).map(|offset| offset as isize);
            for offset in below.chain(above).chain([isize::MIN, isize::MAX]) {
                let ptr = first.wrapping_offset(offset);
                let found = region.find(ptr);
                match region.locate(ptr.addr()) {
                    Location::BlockStart(index) => {
                        let found = found.expect("a block start is found");
                        // SAFETY: `found` came from `find`; `index < count`.
                        let (state, link) = unsafe {
                            (
                                region.state_of(found),
                                region.link_slot(region.block(index)),
                            )
                        };
                        assert_eq!(state, states[index % 3] as u8, "stride {stride}");
                        assert_eq!(region.link_of(found), link, "stride {stride}");
                    }
                    _ => assert!(found.is_none(), "stride {stride}, offset {offset}"),
                }
            }
        }
    }

    #[test]
    fn inverse_of_odd_is_an_inverse() {
        for odd in [
            1usize,
            3,
            5,
            7,
            9,
            15,
            125,
            1_000_003,
            usize::MAX,
            usize::MAX - 2,
        ] {
            assert_eq!(odd.wrapping_mul(inverse_of_odd(odd)), 1, "{odd}");
        }
    }

    #[test]
    fn division_by_inverse_is_exact_for_huge_regions() {
        // The arithmetic of `locate` alone, for strides and counts no test buffer holds: a
        // multiple of the stride below the end maps to its index, anything else to >= count.
        for stride in [8usize, 24, 72, 4104, 1_000_008, HUGE] {
            let shift = stride.trailing_zeros();
            let inverse = inverse_of_odd(stride >> shift);
            let count = (isize::MAX as usize) / stride;
            let index_of = |offset: usize| offset.wrapping_mul(inverse).rotate_right(shift);
            for k in [0, 1, 2, 1000, count / 2, count - 1]
                .into_iter()
                .filter(|&k| k < count)
            {
                assert_eq!(index_of(k * stride), k);
                for delta in [1, 7, stride / 2, stride - 1] {
                    assert!(
                        index_of(k * stride + delta) >= count,
                        "stride {stride}, k {k}, +{delta}"
                    );
                }
            }
        }
    }
}
