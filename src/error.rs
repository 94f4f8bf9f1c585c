//! What can go wrong, in words a learner understands.
//!
//! Creating a pool can fail ([`PoolError`]); so can giving a block back ([`FreeError`]).
//! Handing a block out cannot fail in an interesting way: a full pool simply answers `None`.

use core::fmt;

use crate::BlockState;

/// Why a pool could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Blocks of zero bytes were asked for.
    ZeroBlockSize,
    /// A pool of zero blocks was asked for.
    ZeroBlockCount,
    /// `block_size × block_count` (plus the pool's bookkeeping) does not fit in the address
    /// space.
    TooLarge {
        /// The requested block size, in bytes.
        block_size: usize,
        /// The requested number of blocks.
        block_count: usize,
    },
    /// The memory source could not provide a region this large.
    OutOfMemory {
        /// How many bytes the pool asked its memory source for.
        bytes: usize,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PoolError::ZeroBlockSize => f.write_str("a pool's blocks must be at least 1 byte"),
            PoolError::ZeroBlockCount => f.write_str("a pool must have at least 1 block"),
            PoolError::TooLarge {
                block_size,
                block_count,
            } => write!(
                f,
                "{block_count} blocks of {block_size} bytes do not fit in the address space"
            ),
            PoolError::OutOfMemory { bytes } => {
                write!(f, "out of memory: could not get {bytes} bytes for the pool")
            }
        }
    }
}

impl core::error::Error for PoolError {}

/// Why [`Pool::free`](crate::Pool::free) refused a pointer. The pool is unchanged after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeError {
    /// The pointer is not inside this pool's blocks: it came from somewhere else.
    NotInPool {
        /// The address that was passed to `free`.
        addr: usize,
    },
    /// The pointer is inside a block, but not at its start.
    Misaligned {
        /// The address that was passed to `free`.
        addr: usize,
        /// The index of the block it points into.
        block: usize,
        /// How many bytes past the block's start it points.
        offset: usize,
    },
    /// The block is not in use: it was freed already, or never handed out.
    DoubleFree {
        /// The block's address.
        addr: usize,
        /// The block's index.
        block: usize,
        /// Its state, [`BlockState::Free`] or [`BlockState::NeverUsed`].
        state: BlockState,
    },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FreeError::NotInPool { addr } => write!(
                f,
                "{addr:#x} is not a block of this pool: it points outside the pool's blocks"
            ),
            FreeError::Misaligned {
                addr,
                block,
                offset,
            } => write!(
                f,
                "misaligned free: {addr:#x} is {offset} bytes into block {block} (which starts at \
                 {:#x}); only the start of a block can be freed",
                addr - offset
            ),
            FreeError::DoubleFree {
                addr,
                block,
                state: BlockState::NeverUsed,
            } => write!(
                f,
                "invalid free: block {block} at {addr:#x} was never allocated"
            ),
            FreeError::DoubleFree { addr, block, .. } => {
                write!(f, "double free: block {block} at {addr:#x} is already free")
            }
        }
    }
}

impl core::error::Error for FreeError {}
