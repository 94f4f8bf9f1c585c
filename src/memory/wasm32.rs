//! Memory from the WebAssembly module's linear memory.
//!
//! A wasm module has one flat array of bytes, its *linear memory*, which can only grow
//! (`memory.grow`, in 64 KiB pages) and never shrink. So a released region cannot be given
//! back to the browser: it is kept on a list of released chunks, in address order, and the
//! next request that fits reuses it (first fit; neighbours are merged). A page that creates
//! pool after pool therefore stops growing memory once it has the largest pool it needs.
//!
//! Regions are handed out in grains of 4 KiB (`GRAIN`), not in whole 64 KiB pages: a 36 KiB region
//! takes 36 KiB. When memory must grow, it grows by whole pages, and the part of the last page
//! the region does not need goes on the released list, where the next region starts. A
//! released chunk at the very end of linear memory is grown into, not left behind: the new
//! pages are merged with it first. So linear memory ends up about as large as the regions in
//! it, which matters because it never shrinks.
//!
//! A pool's region is placed so that its blocks start on their alignment ([`acquire_aligned`])
//! instead of keeping `align − 1` bytes of room to align them (up to 1 MiB for the 1 MiB class
//! of `SizeClasses`): up to a grain's alignment every region is placed so already; above, the
//! bytes skipped before the region go on the released list, for the next region that fits.
//!
//! A region can also be resized in place ([`resize`]): shrunk, its tail goes on the released
//! list; grown, it takes the released chunk right after it, or new pages if it ends where
//! memory ends (a large block of `SizeClasses` reallocated to more pages, without a copy).

use core::arch::wasm32;
use core::cell::Cell;
use core::ptr::{self, NonNull};

#[cfg(target_feature = "atomics")]
compile_error!("the wasm32 memory source assumes one thread; build without the atomics feature");

/// What `memory.grow` counts in.
const PAGE_SIZE: usize = 65536;

/// What regions are counted in: every size is rounded up to it, so every region starts on a
/// 4 KiB boundary (the alignment `SizeClasses` promises its large blocks).
const GRAIN: usize = 4096;

/// The header written at the start of a released chunk: the released list lives in the
/// chunks themselves, so keeping it costs no memory of its own.
struct ReleasedChunk {
    size: usize,
    next: *mut ReleasedChunk,
}

/// The head of the released list, lowest address first.
struct ReleasedList(Cell<*mut ReleasedChunk>);

// SAFETY: without the atomics feature (checked above) a wasm32 module runs on one thread.
unsafe impl Sync for ReleasedList {}

static RELEASED: ReleasedList = ReleasedList(Cell::new(ptr::null_mut()));

/// Returns `size` bytes (rounded up to whole grains) of zeroed linear memory.
pub(crate) fn acquire(size: usize) -> Option<NonNull<u8>> {
    let size = size.checked_next_multiple_of(GRAIN)?.max(GRAIN);
    reuse_released(size).or_else(|| grow(size))
}

/// A region for `head` bytes, then `body` bytes aligned to `align`. Up to a grain's
/// alignment, any region will do: it starts on a grain, so the body starts right after the
/// head rounded up to `align`. Above, the first place (in the released chunks, else past the
/// end of linear memory) where a grain boundary `head` rounded up to a grain before a
/// multiple of `align` leaves room for both.
pub(crate) fn acquire_aligned(
    head: usize,
    body: usize,
    align: usize,
) -> Option<(NonNull<u8>, usize)> {
    if align <= GRAIN {
        let size = head.checked_next_multiple_of(align)?.checked_add(body)?;
        return Some((acquire(size)?, size));
    }
    let head = head.checked_next_multiple_of(GRAIN)?;
    let size = head.checked_add(body)?.checked_next_multiple_of(GRAIN)?;
    // The first start at or after `from` whose body is aligned.
    let start_from =
        |from: usize| Some(from.checked_add(head)?.checked_next_multiple_of(align)? - head);
    let mut chunk = RELEASED.0.get();
    while !chunk.is_null() {
        // SAFETY: every pointer on the list is a released chunk holding a valid header.
        let (chunk_size, next) = unsafe { ((*chunk).size, (*chunk).next) };
        if let Some(start) = start_from(chunk.addr()) {
            if start.checked_add(size)? <= chunk.addr() + chunk_size {
                take_at(start, size)?;
                return Some((NonNull::new(ptr::with_exposed_provenance_mut(start))?, size));
            }
        }
        chunk = next;
    }
    let end = wasm32::memory_size(0).checked_mul(PAGE_SIZE)?;
    let start = start_from(end - released_tail_ending_at(end))?;
    take_at(start, size)?;
    Some((NonNull::new(ptr::with_exposed_provenance_mut(start))?, size))
}

/// Puts a region back on the released list, merging it with adjacent released chunks.
///
/// # Safety
///
/// `region` and `size` must come from one call of [`acquire`]; the region is not used again.
pub(crate) unsafe fn release(region: NonNull<u8>, size: usize) {
    let size = size.next_multiple_of(GRAIN).max(GRAIN);
    let chunk: *mut ReleasedChunk = region.as_ptr().cast();
    let (mut before, mut after) = (ptr::null_mut::<ReleasedChunk>(), RELEASED.0.get());
    while !after.is_null() && after < chunk {
        before = after;
        // SAFETY: every pointer on the list is a released chunk holding a valid header.
        after = unsafe { (*after).next };
    }
    // SAFETY: `chunk` is a page-aligned region of at least one page that nobody uses any
    // more, so it can hold a header; `before` and `after` are headers on the list.
    unsafe {
        chunk.write(ReleasedChunk { size, next: after });
        if !after.is_null() && chunk.byte_add(size) == after {
            (*chunk).size += (*after).size;
            (*chunk).next = (*after).next;
        }
        if before.is_null() {
            RELEASED.0.set(chunk);
        } else if before.byte_add((*before).size) == chunk {
            (*before).size += (*chunk).size;
            (*before).next = (*chunk).next;
        } else {
            (*before).next = chunk;
        }
    }
}

/// Takes the first released chunk of at least `size` bytes, zeroed ([`take_at`] splits off
/// what is left).
fn reuse_released(size: usize) -> Option<NonNull<u8>> {
    let mut chunk = RELEASED.0.get();
    while !chunk.is_null() {
        // SAFETY: every pointer on the list is a released chunk holding a valid header.
        let (chunk_size, next) = unsafe { ((*chunk).size, (*chunk).next) };
        if chunk_size >= size {
            take_at(chunk.addr(), size)?;
            return NonNull::new(chunk.cast());
        }
        chunk = next;
    }
    None
}

/// Makes a region `new_size` bytes long where it is, or says `None` (nothing changed): a
/// shrink gives the tail back to the released list; a growth takes the bytes right after the
/// region, zeroed, from the released chunk that starts there or, at the end of linear memory,
/// from new pages.
///
/// # Safety
///
/// `region` and `old_size` are a pair from [`acquire`] (or `resize`), in use by the caller
/// only; on `Some`, the pair is `region` and `new_size` from then on.
pub(crate) unsafe fn resize(
    region: NonNull<u8>,
    old_size: usize,
    new_size: usize,
) -> Option<NonNull<u8>> {
    let old_size = old_size.next_multiple_of(GRAIN).max(GRAIN);
    let new_size = new_size.checked_next_multiple_of(GRAIN)?.max(GRAIN);
    if new_size < old_size {
        // SAFETY: the tail is whole grains of the caller's region, which gives it up.
        unsafe { release(region.byte_add(new_size), old_size - new_size) };
    } else if new_size > old_size {
        let end = region.as_ptr().addr() + old_size;
        take_at(end, new_size - old_size)?;
    }
    Some(region)
}

/// Takes `size` bytes (whole grains) starting at `addr` off the released list, zeroed,
/// growing linear memory first if `addr` is at or past its end or in the released chunk at
/// its end (the bytes skipped before `addr` stay released); `None` if those bytes are not
/// all released (or memory cannot grow).
fn take_at(addr: usize, size: usize) -> Option<()> {
    let end = wasm32::memory_size(0).checked_mul(PAGE_SIZE)?;
    let tail = released_tail_ending_at(end);
    if addr >= end - tail {
        let missing = addr
            .checked_add(size)?
            .saturating_sub(end)
            .div_ceil(PAGE_SIZE);
        if missing > 0 {
            if wasm32::memory_grow(0, missing) == usize::MAX {
                return None;
            }
            let fresh = NonNull::new(ptr::with_exposed_provenance_mut::<u8>(end))?;
            // SAFETY: the pages just grown are ours alone; on the list they merge with the
            // tail chunk (if any), which then covers `addr .. addr + size`.
            unsafe { release(fresh, missing * PAGE_SIZE) };
        }
    }
    let mut link: &Cell<*mut ReleasedChunk> = &RELEASED.0;
    loop {
        let chunk = link.get();
        if chunk.is_null() || chunk.addr() > addr {
            return None;
        }
        // SAFETY: `chunk` is on the list: a released chunk with a valid header, unused.
        unsafe {
            let ReleasedChunk {
                size: chunk_size,
                next,
            } = chunk.read();
            let chunk_end = chunk.addr() + chunk_size;
            if addr < chunk_end {
                if size > chunk_end - addr {
                    return None;
                }
                // Split the chunk into what lies before `addr` (kept, if any), the bytes
                // taken, and what lies after them (kept, if any).
                let mut rest = next;
                if addr + size < chunk_end {
                    let after = chunk.byte_add(addr + size - chunk.addr());
                    after.write(ReleasedChunk {
                        size: chunk_end - (addr + size),
                        next,
                    });
                    rest = after;
                }
                if chunk.addr() < addr {
                    (*chunk).size = addr - chunk.addr();
                    (*chunk).next = rest;
                } else {
                    link.set(rest);
                }
                let taken = chunk.byte_add(addr - chunk.addr()).cast::<u8>();
                // The contract: bytes added read as zero.
                taken.write_bytes(0, size);
                return Some(());
            }
            link = Cell::from_mut(&mut (*chunk).next);
        }
    }
}

/// Linear memory cannot shrink, and nothing gives its pages back: never.
///
/// # Safety
///
/// None needed; it does nothing.
pub(crate) unsafe fn decommit(_region: NonNull<u8>, _size: usize) -> bool {
    false
}

/// No released chunk has `size` bytes: grows linear memory by the pages missing for them,
/// counting a released chunk that ends where memory ends, and takes them from there.
fn grow(size: usize) -> Option<NonNull<u8>> {
    let end = wasm32::memory_size(0).checked_mul(PAGE_SIZE)?;
    let tail = released_tail_ending_at(end);
    let pages = size.saturating_sub(tail).div_ceil(PAGE_SIZE);
    let previous_pages = wasm32::memory_grow(0, pages);
    if previous_pages == usize::MAX {
        return None;
    }
    let fresh = NonNull::new(ptr::with_exposed_provenance_mut(previous_pages * PAGE_SIZE))?;
    // SAFETY: the pages just grown are ours alone and nobody uses them; putting them on the
    // released list merges them with the tail chunk below them, if there is one, and that
    // chunk then has room for `size` bytes, which `reuse_released` takes (zeroing only what
    // was reused: fresh pages are zero already, but zeroing them again is harmless).
    unsafe { release(fresh, pages * PAGE_SIZE) };
    reuse_released(size)
}

/// The size of the released chunk that ends at `end` (the end of linear memory), or 0.
fn released_tail_ending_at(end: usize) -> usize {
    let mut chunk = RELEASED.0.get();
    let mut last = ptr::null_mut::<ReleasedChunk>();
    while !chunk.is_null() {
        last = chunk;
        // SAFETY: every pointer on the list is a released chunk holding a valid header.
        chunk = unsafe { (*chunk).next };
    }
    if last.is_null() {
        return 0;
    }
    // SAFETY: as above.
    let size = unsafe { (*last).size };
    if last.addr() + size == end {
        size
    } else {
        0
    }
}
