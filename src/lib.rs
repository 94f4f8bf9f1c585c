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
//! # Where the memory comes from
//!
//! A pool asks a [`MemorySource`] for one region when it is created and gives it back when
//! it is dropped. [`SystemMemory`] is `mmap` on Unix (committed lazily by the kernel, so a
//! 1 GiB pool is created instantly) and a chunk of linear memory on wasm32 (`memory.grow`;
//! linear memory never shrinks, so released chunks are reused by later pools).
//! [`SliceMemory`] serves a buffer you own: tests use it to run the pool under Miri.
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

#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod growing;
mod map;
mod memory;
mod pool;
mod region;
mod sanitizer;
mod size_classes;
mod sync_pool;
pub mod teaching;
mod typed;

/// The wasm boundary: the pool exported to JavaScript (wasm32 only, with the default `js`
/// feature).
#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub mod wasm;

pub use error::{FreeError, PoolError};
pub use growing::{GrowingPool, MAX_REGIONS};
pub use map::{BlockInfo, BlockState, Blocks, FreeList, PoolStats, RegionLayout, RejectedFrees};
pub use memory::{MemorySource, SliceMemory, SystemMemory};
pub use pool::Pool;
pub use size_classes::{
    ClassStats, LargeStats, SizeClasses, CLASS_COUNT, CLASS_SIZES, LARGEST_CLASS,
};
#[cfg(not(loom))]
pub use sync_pool::SyncPool;
pub use typed::{PoolBox, TypedPool};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
