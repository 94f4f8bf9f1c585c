//! Memory from the WebAssembly module's linear memory.
//!
//! A wasm module has one flat array of bytes, its *linear memory*, which can only grow
//! (`memory.grow`, in 64 KiB pages) and never shrink. So a released region cannot be given
//! back to the browser: it is kept on a list of released chunks, in address order, and the
//! next request that fits reuses it (first fit; neighbours are merged). A page that creates
//! pool after pool therefore stops growing memory once it has the largest pool it needs.

use core::arch::wasm32;
use core::cell::Cell;
use core::ptr::{self, NonNull};

#[cfg(target_feature = "atomics")]
compile_error!("the wasm32 memory source assumes one thread; build without the atomics feature");

const PAGE_SIZE: usize = 65536;

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

/// Returns `size` bytes (rounded up to whole pages) of zeroed linear memory.
pub(crate) fn acquire(size: usize) -> Option<NonNull<u8>> {
    let size = size.checked_next_multiple_of(PAGE_SIZE)?.max(PAGE_SIZE);
    reuse_released(size).or_else(|| grow(size))
}

/// Puts a region back on the released list, merging it with adjacent released chunks.
///
/// # Safety
///
/// `region` and `size` must come from one call of [`acquire`]; the region is not used again.
pub(crate) unsafe fn release(region: NonNull<u8>, size: usize) {
    let size = size.next_multiple_of(PAGE_SIZE).max(PAGE_SIZE);
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

/// Takes the first released chunk of at least `size` bytes, splitting off what is left.
fn reuse_released(size: usize) -> Option<NonNull<u8>> {
    let mut link: &Cell<*mut ReleasedChunk> = &RELEASED.0;
    loop {
        let chunk = link.get();
        if chunk.is_null() {
            return None;
        }
        // SAFETY: `chunk` is on the list, so it is a released chunk with a valid header that
        // nobody else uses.
        unsafe {
            let ReleasedChunk {
                size: chunk_size,
                next,
            } = chunk.read();
            if chunk_size >= size {
                let rest = if chunk_size > size {
                    let rest = chunk.byte_add(size);
                    rest.write(ReleasedChunk {
                        size: chunk_size - size,
                        next,
                    });
                    rest
                } else {
                    next
                };
                link.set(rest);
                // The contract is zeroed memory; fresh pages are, reused ones must be made so.
                chunk.cast::<u8>().write_bytes(0, size);
                return NonNull::new(chunk.cast());
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

/// Grows linear memory by `size` bytes; the new pages are zero, as the wasm spec says.
fn grow(size: usize) -> Option<NonNull<u8>> {
    let previous_pages = wasm32::memory_grow(0, size / PAGE_SIZE);
    if previous_pages == usize::MAX {
        return None;
    }
    NonNull::new(ptr::with_exposed_provenance_mut(previous_pages * PAGE_SIZE))
}
