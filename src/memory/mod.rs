//! Where a pool's memory comes from.
//!
//! A pool needs one thing from the outside world: "give me `size` bytes of fresh, zeroed
//! memory" and, later, "take them back". That question is the [`MemorySource`] trait, and
//! each answer lives in a small file of its own:
//!
//! | source | file | where the bytes come from |
//! |---|---|---|
//! | [`SystemMemory`] on Unix | `unix.rs` | `mmap` of anonymous private pages, `munmap` on drop |
//! | [`SystemMemory`] on wasm32 | `wasm32.rs` | the module's linear memory, grown with `memory.grow` |
//! | [`SystemMemory`] elsewhere | `none.rs` | nowhere: it always answers "no memory" |
//! | [`SliceMemory`] | `slice.rs` | a byte slice you own, handed to one pool (tests, Miri) |
//! | [`&BufferMemory`](BufferMemory) | `buffer.rs` | a byte slice you own, shared by any number of pools (bare metal) |
//!
//! The pool core never names any of them: `#[cfg]` picks the system source here, and
//! anything else can be plugged in through [`Pool::new_in`](crate::Pool::new_in).
//!
//! # Without an operating system
//!
//! On a target that is neither Unix nor wasm32 (bare metal, `x86_64-unknown-none`,
//! `thumbv7em-none-eabihf`) there is nobody to ask for memory: [`SystemMemory`] still names
//! the default source, but it never has any (`none.rs`: `acquire` answers `None`), and the
//! constructors that would use it (`Pool::new`, `TypedPool::new`, `SizeClasses::new`, …) are
//! not compiled, so a program cannot reach it by mistake. Give the pools a buffer instead,
//! through the `_in` constructors: the crate doc's `no_std` section shows how.

use core::ptr::NonNull;

mod slice;
pub use slice::SliceMemory;

#[cfg(target_has_atomic = "ptr")]
mod buffer;
#[cfg(target_has_atomic = "ptr")]
pub use buffer::BufferMemory;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as system;

#[cfg(target_arch = "wasm32")]
mod wasm32;
#[cfg(target_arch = "wasm32")]
use wasm32 as system;

#[cfg(not(any(unix, target_arch = "wasm32")))]
mod none;
#[cfg(not(any(unix, target_arch = "wasm32")))]
use none as system;

/// A provider of zero-filled memory regions for a [`Pool`](crate::Pool).
///
/// # Safety
///
/// An implementation promises that every region returned by [`acquire`](Self::acquire):
/// - is valid for reads and writes of `size` bytes and is filled with zeros;
/// - overlaps no other region it handed out that has not been released;
/// - stays valid until it is passed to [`release`](Self::release) or the source is dropped
///   (a source that owns its memory must outlive the regions, which the pool guarantees by
///   owning the source).
///
/// The same holds for a region [`acquire_aligned`](Self::acquire_aligned) returns, for the
/// size it returns with it, and for a region [`resize`](Self::resize) returns, which also
/// starts at an address aligned at least as the old one was, up to 4096 bytes, and holds the
/// old bytes.
pub unsafe trait MemorySource {
    /// Returns a zero-filled region of at least `size` bytes, or `None` if there is no memory.
    fn acquire(&mut self, size: usize) -> Option<NonNull<u8>>;

    /// Gives a region back.
    ///
    /// # Safety
    ///
    /// `region` and `size` must be exactly a pair returned by `acquire` on this source, and
    /// the region must not be used, or released again, afterwards.
    unsafe fn release(&mut self, region: NonNull<u8>, size: usize);

    /// Returns a zero-filled region for `head` bytes followed by `body` bytes aligned to
    /// `align` (a power of two), placed so that the body needs little or no padding: its start
    /// and size, which are then the pair to [`release`](Self::release). A pool asks this
    /// first; the default says `None` (cannot), and the pool asks [`acquire`](Self::acquire)
    /// for `align − 1` bytes more instead, to align the body itself. Only linear memory on
    /// wasm32 answers: there no byte is ever given back, so room kept for alignment would be
    /// lost for good.
    ///
    /// The pool checks the layout (`start + head`, rounded up to `align`, plus `body`, within
    /// the size) and refuses a region that breaks it.
    fn acquire_aligned(
        &mut self,
        head: usize,
        body: usize,
        align: usize,
    ) -> Option<(NonNull<u8>, usize)> {
        let _ = (head, body, align);
        None
    }

    /// Gives the memory behind a whole region back to the system but keeps its addresses:
    /// afterwards its bytes read as zero, as if just acquired, and touching them takes memory
    /// again. Returns whether it did; if not, nothing changed. The default does nothing and
    /// says `false` (a buffer of yours, or wasm32's linear memory, which cannot shrink).
    ///
    /// # Safety
    ///
    /// `region` and `size` are a pair that `acquire` returned on this source, not released,
    /// and nothing uses the region's bytes (whatever they held is lost).
    unsafe fn decommit(&mut self, region: NonNull<u8>, size: usize) -> bool {
        let _ = (region, size);
        false
    }

    /// Whether memory acquired but never touched costs only address space: on Unix, a page of
    /// an anonymous mapping takes RAM when it is first written, not when it is mapped
    /// ([`SystemMemory`] there says yes). [`SizeClasses`](crate::SizeClasses) then starts each
    /// class with a larger first region, which costs nothing until its blocks are used and
    /// spares the class the regions that would follow. The default says `false`: a buffer's
    /// bytes, and wasm32's linear memory, are memory whether touched or not.
    fn commits_lazily(&self) -> bool {
        false
    }

    /// Makes a region `new_size` bytes long, moving it if it must, without copying what it
    /// can remap: the first `min(old_size, new_size)` bytes are kept, any bytes added read as
    /// zero. Returns the region's (maybe new) start, which then pairs with `new_size`; `None`
    /// if it cannot, and then nothing changed. The default says `None` (callers copy instead).
    ///
    /// # Safety
    ///
    /// `region` and `old_size` are a pair that `acquire` (or `resize`) returned on this
    /// source, not released; on `Some`, the old pair must not be used again.
    unsafe fn resize(
        &mut self,
        region: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let _ = (region, old_size, new_size);
        None
    }
}

/// The operating system's memory: `mmap` on Unix, `memory.grow` on wasm32.
///
/// This is the source behind [`Pool::new`](crate::Pool::new). It is a zero-sized handle:
/// all the state lives in the operating system (or, on wasm32, in the module). On other
/// targets (bare metal) it is only the default type parameter of the pools and has no
/// memory: see [`no_std`](crate#no_std).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemMemory;

// SAFETY: the per-target `acquire` functions return fresh zeroed mappings (mmap) or zeroed
// linear memory, never handed out twice until released; see each file.
unsafe impl MemorySource for SystemMemory {
    fn acquire(&mut self, size: usize) -> Option<NonNull<u8>> {
        system::acquire(size)
    }

    /// wasm32: placed in linear memory so that the body starts on its alignment.
    #[cfg(target_arch = "wasm32")]
    fn acquire_aligned(
        &mut self,
        head: usize,
        body: usize,
        align: usize,
    ) -> Option<(NonNull<u8>, usize)> {
        system::acquire_aligned(head, body, align)
    }

    unsafe fn release(&mut self, region: NonNull<u8>, size: usize) {
        // SAFETY: the caller passes back a pair that `acquire` returned, exactly once.
        unsafe { system::release(region, size) }
    }

    unsafe fn decommit(&mut self, region: NonNull<u8>, size: usize) -> bool {
        // SAFETY: the caller passes bytes of a live region of ours that nothing uses.
        unsafe { system::decommit(region, size) }
    }

    /// On Unix, yes: `mmap` hands out address space, and a page is committed when touched.
    fn commits_lazily(&self) -> bool {
        cfg!(unix)
    }

    /// Linux: `mremap`, which moves the pages instead of copying them. wasm32: in place,
    /// shrinking into the released list or growing into what follows the region (a released
    /// chunk, or new pages at the end of linear memory).
    #[cfg(any(all(target_os = "linux", not(miri)), target_arch = "wasm32"))]
    unsafe fn resize(
        &mut self,
        region: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller passes a live pair of ours, not used again if this succeeds.
        unsafe { system::resize(region, old_size, new_size) }
    }
}
