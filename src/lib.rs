//! A fast, safe pool of fixed-size memory blocks.
//!
//! A general-purpose allocator (`malloc`) must serve any size at any time, and pays for it:
//! headers on every allocation, searches for a hole that fits, and free memory broken into
//! pieces too small to use (fragmentation). A *pool* serves one size only. Since every block
//! is the same size, any free block fits any request: allocating is popping a free block,
//! freeing is pushing it back, both O(1), with no per-block header and no fragmentation
//! between blocks.
//!
//! # Examples
//!
//! ```
//! use memory_pool::Pool;
//!
//! let mut pool = Pool::new(64, 1024)?; // 1024 blocks of 64 bytes
//! let block = pool.alloc().unwrap();
//! // SAFETY: the block is 64 writable bytes, ours until we free it.
//! unsafe { block.as_ptr().write_bytes(0xAB, 64) };
//! pool.free(block)?;
//!
//! // Misuse is an error, not undefined behaviour:
//! let err = pool.free(block).unwrap_err();
//! assert!(err.to_string().starts_with("double free: block 0"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Without `unsafe`, a [`TypedPool`] hands out [`PoolBox`]es that free themselves:
//!
//! ```
//! let pool = memory_pool::TypedPool::new(100)?;
//! let answer = pool.alloc(42u64).unwrap();
//! assert_eq!(*answer, 42);
//! # Ok::<(), memory_pool::PoolError>(())
//! ```
//!
//! # Which type, and which crate?
//!
//! | | you get | threads | grows | frees one object | a bad free | `no_std` |
//! |---|---|---|---|---|---|---|
//! | [`Pool`] | a pointer to a fixed-size block | one owner | no | yes, O(1) | refused, pool unchanged | yes |
//! | [`TypedPool`] | a self-freeing [`PoolBox`], or `Box::new_in(x, &pool)` | one thread | no | on drop | none in safe code; `deallocate` refuses and counts | yes |
//! | [`GrowingPool`] | a pointer; regions added, blocks never moved | one owner | yes | yes | refused | yes |
//! | [`SyncPool`] | a pointer, lock-free | any | no | yes | refused, races included | 64-bit atomics |
//! | [`SizeClasses`] | any layout (`GlobalAlloc`, `Allocator`) | any (a shard of classes per processor, a lock per class) | yes | yes | refused and counted (up to 1 MiB) | 64-bit atomics |
//! | `slab` | a `usize` key | one owner | yes (moves values) | yes | a stale key reads the slot's new value | with `alloc` |
//! | `sharded-slab` | a generational key | any | yes | yes | a stale key finds nothing | no |
//! | `heapless::pool` | a `Box`/`Arc` from `static` blocks | any | with more blocks | on drop | cannot be written | yes |
//! | `object-pool` | a reused object, returned on drop | any | on demand | on drop | cannot be written | no |
//! | `typed-arena`, `bumpalo` | `&mut T` for the arena's life | one thread | yes | no: all at once | no free to misuse | with `alloc` |
//! | `talc`, `mimalloc` | any layout, a global allocator | any | yes | yes | undefined behaviour (mimalloc's `secure` mode mitigates) | talc yes, mimalloc no |
//!
//! The README's "Which crate should I use?" compares them point by point, with this
//! repository's benchmark numbers, says when to pick each, and lists this crate's drawbacks.
//!
//! # Collections in a pool (feature `allocator-api2`)
//!
//! Collections take their memory from an allocator given to them, through the `Allocator`
//! trait of the [`allocator-api2`](https://docs.rs/allocator-api2) crate (the stable mirror of
//! the one in `core`, which is still unstable). With the `allocator-api2` feature,
//! `&SizeClasses` is such an allocator for any layout, and `&TypedPool` for any layout that
//! fits one of its blocks (others are refused with `AllocError`, the pool unchanged):
//!
//! ```
//! # #[cfg(feature = "allocator-api2")] {
//! use allocator_api2::{boxed::Box, vec::Vec};
//! use memory_pool::{SizeClasses, TypedPool};
//!
//! // A heap of your own: create it, fill it, look inside, drop it as a whole.
//! let classes = SizeClasses::new();
//! let mut squares = Vec::new_in(&classes);
//! squares.extend((0..100u64).map(|i| i * i));
//! assert_eq!(squares[9], 81);
//! assert_eq!(classes.class_stats(12).unwrap().block_size, 1024); // 800 bytes of u64s
//! assert_eq!(classes.class_stats(12).unwrap().stats.in_use, 1);
//!
//! // One block per box.
//! let pool = TypedPool::<[f32; 3]>::new(64).unwrap();
//! let position = Box::new_in([1.0f32, 2.0, 3.0], &pool);
//! assert_eq!(position[2], 3.0);
//! assert_eq!(pool.in_use(), 1);
//! // Three f64s do not fit a block made for three f32s: refused, the pool unchanged.
//! assert!(Box::try_new_in([1.0f64, 2.0, 3.0], &pool).is_err());
//! assert_eq!(pool.in_use(), 1);
//! # }
//! ```
//!
//! `hashbrown::HashMap::new_in(&classes)` works the same way. Zero-sized layouts get a
//! dangling pointer and no memory; a `deallocate` of a pointer that is not an in-use block is
//! refused and counted in the pool's [`PoolStats::rejected`], as [`Pool::free`] always does.
//!
//! # Where the memory comes from
//!
//! A pool asks a [`MemorySource`] for one region when it is created and gives it back when
//! it is dropped. [`SystemMemory`] is `mmap` on Unix (committed lazily by the kernel, so a
//! 1 GiB pool is created instantly) and a chunk of linear memory on wasm32 (`memory.grow`;
//! linear memory never shrinks, so released chunks are reused by later pools).
//! [`SliceMemory`] serves a buffer you own: tests use it to run the pool under Miri.
//! [`BufferMemory`] shares one buffer between many pools (a [`GrowingPool`], the classes of a
//! [`SizeClasses`]).
//!
//! # `no_std`
//!
//! The crate is `#![no_std]` and needs no allocator: the pools keep all their bookkeeping in
//! the memory they manage. The default `std` feature adds only the wasm boundary (the `js`
//! feature) and a spin lock that yields its thread when it has waited long. Without it
//! (`default-features = false`), on a target with no operating system (`x86_64-unknown-none`,
//! `thumbv7em-none-eabihf`), there is nobody to ask for memory: [`SystemMemory`] has none
//! there and the constructors that use it (`Pool::new`, `TypedPool::new`,
//! `SizeClasses::new`, …) are not compiled. Build the pools over a buffer of your own with the
//! `_in` constructors instead. [`SyncPool`] and [`SizeClasses`] need 64-bit atomics, the other
//! pools none.
//!
//! ```
//! use core::alloc::Layout;
//! use memory_pool::{BufferMemory, GrowingPool, Pool, SizeClasses};
//!
//! // In firmware this would be a `static` buffer; any `&mut [u8]` will do.
//! let mut bytes = [0u8; 64 * 1024];
//! let buffer = BufferMemory::new(&mut bytes);
//!
//! let mut pool = Pool::new_in(32, 16, &buffer)?; // one region for a fixed pool …
//! let layout = Layout::from_size_align(64, 8).unwrap();
//! let mut growing = GrowingPool::with_layout_in(layout, 4, &buffer)?; // … regions as it grows …
//! let classes = SizeClasses::new_in(&buffer); // … and regions for every size class.
//! # let _ = (pool.alloc(), growing.alloc(), &classes);
//! # Ok::<(), memory_pool::PoolError>(())
//! ```
//!
//! # Safety checks
//!
//! [`Pool::free`] accepts any pointer and refuses, with a [`FreeError`] and no change to the
//! pool, a pointer from elsewhere, one into the middle of a block, and a block that is not in
//! use (a double free). Each check is O(1): a subtraction and compare, a multiply, and one
//! state byte per block.
//!
//! # Implementation
//!
//! The region holds one state byte per block, then the blocks. Blocks never used so far are
//! handed out in address order by bumping an index, so creation touches nothing; freed blocks
//! form stacks (free lists) whose links, each the address of the next free block, live
//! inside the free blocks themselves ([`Pool::link_address`] says where). There is one list
//! per 16 KiB chunk of memory, and `alloc` takes from one chunk's list at a time, so blocks
//! handed out in a row are neighbours. The pool uses no other memory, so it does not depend
//! on a global allocator.
//! [`Pool::blocks`], [`Pool::free_list`], [`Pool::stats`] and [`Pool::leaks`] show all of it.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

// The pools need no allocator and no operating system: `std` is only for the wasm boundary,
// a spin lock that yields its thread, and the tests.
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(all(feature = "allocator-api2", target_has_atomic = "64"))]
mod allocator;
mod error;
mod growing;
mod map;
mod memory;
mod pool;
mod region;
mod sanitizer;
#[cfg(target_has_atomic = "64")]
mod size_classes;
#[cfg(target_has_atomic = "64")]
mod sync_pool;
pub mod teaching;
#[cfg(all(feature = "std", target_has_atomic = "64"))]
pub mod trace;
mod typed;

/// The wasm boundary: the pool exported to JavaScript (wasm32 only, with the default `js`
/// feature).
#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub mod wasm;

pub use error::{FreeError, PoolError};
pub use growing::{GrowingPool, MAX_REGIONS};
pub use map::{BlockInfo, BlockState, Blocks, FreeList, PoolStats, RegionLayout, RejectedFrees};
#[cfg(target_has_atomic = "ptr")]
pub use memory::BufferMemory;
pub use memory::{MemorySource, SliceMemory, SystemMemory};
pub use pool::Pool;
#[cfg(target_has_atomic = "64")]
pub use size_classes::{
    ClassStats, LargeStats, SizeClasses, CLASS_COUNT, CLASS_SIZES, DECOMMIT_FROM, LARGEST_CLASS,
    SHARDS,
};
#[cfg(all(target_has_atomic = "64", not(loom)))]
pub use sync_pool::SyncPool;
pub use typed::{PoolBox, TypedPool};

/// The README's Rust examples, compiled and run as doctests (with the `allocator-api2`
/// feature, which one of them uses; `make test` turns it on).
#[cfg(all(doctest, feature = "allocator-api2"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
