//! What the models of the pool fuzz targets share: the sizes and creations they decode, the
//! free lists they predict, and the patterns they write into blocks and check.
//!
//! Included with `#[path]` by each model that needs it (`pool_ops.rs`, `sync_pool.rs`), so
//! each model stays one module that its fuzz target and `tests/fuzz_corpus.rs` both include.
//! Each model uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ptr::NonNull;

use arbitrary::Arbitrary;
use memory_pool::{BlockState, FreeError};

/// Bytes written and verified at each end of a live block: whole blocks up to twice this,
/// and no more for huge ones (a block of a terabyte is fine to hand out, not to fill).
pub const PATTERN_SPAN: usize = 256;

/// A size or count, with the interesting edges made easy to reach.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Size {
    Tiny(u8),
    Small(u16),
    Any(usize),
    /// `2^(n mod BITS)`.
    PowerOfTwo(u8),
    /// `2^(n mod BITS) + delta`, wrapping.
    NearPowerOfTwo(u8, i8),
    /// `usize::MAX - n`.
    NearMax(u16),
    /// `isize::MAX + delta`, wrapping.
    NearIsizeMax(i16),
}

impl Size {
    pub fn value(self) -> usize {
        match self {
            Size::Tiny(n) => n.into(),
            Size::Small(n) => n.into(),
            Size::Any(n) => n,
            Size::PowerOfTwo(n) => 1 << (u32::from(n) % usize::BITS),
            Size::NearPowerOfTwo(n, delta) => {
                (1usize << (u32::from(n) % usize::BITS)).wrapping_add_signed(delta.into())
            }
            Size::NearMax(n) => usize::MAX - usize::from(n),
            Size::NearIsizeMax(delta) => (isize::MAX as usize).wrapping_add_signed(delta.into()),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Source {
    /// `mmap` ([`memory_pool::SystemMemory`]): the pool's `new`, or its `with_layout`.
    System,
    /// A `len`-byte buffer that starts `skew` bytes into a `Vec` (so it is often misaligned).
    Slice { len: u16, skew: u8 },
}

#[derive(Arbitrary, Debug)]
pub struct Creation {
    pub block_size: Size,
    pub block_count: Size,
    /// `None`: the pool's `new` (`new_in`); `Some(n)`: its `with_layout` (`with_layout_in`)
    /// aligned to `2^(n mod BITS)`.
    pub align_log2: Option<u8>,
    pub source: Source,
}

/// The pool's free lists as the model keeps them: the current chunk's list, and the lists of
/// the other chunks with freed blocks, waiting on a stack (a chunk is the 16 KiB-aligned
/// 16 KiB a block starts in).
#[derive(Debug, Default)]
pub struct FreeLists {
    /// The list `alloc` pops from (its last element first).
    pub current: Vec<usize>,
    pub current_chunk: usize,
    /// Each other chunk's list, and the stack of chunks whose list is not empty.
    pub waiting: BTreeMap<usize, Vec<usize>>,
    pub stack: Vec<usize>,
}

/// The chunk of the block at `addr`.
pub fn chunk_of(addr: usize) -> usize {
    addr / (16 << 10)
}

impl FreeLists {
    pub fn push(&mut self, index: usize, chunk: usize) {
        if chunk == self.current_chunk {
            self.current.push(index);
        } else {
            let list = self.waiting.entry(chunk).or_default();
            if list.is_empty() {
                self.stack.push(chunk);
            }
            list.push(index);
        }
    }

    pub fn pop(&mut self) -> Option<usize> {
        loop {
            if let Some(index) = self.current.pop() {
                return Some(index);
            }
            let chunk = self.stack.pop()?;
            self.current = self.waiting.remove(&chunk).unwrap_or_default();
            self.current_chunk = chunk;
        }
    }

    /// Every freed block, in the order `alloc` will hand them out.
    pub fn order(&self) -> Vec<usize> {
        let waiting = self
            .stack
            .iter()
            .rev()
            .flat_map(|chunk| self.waiting[chunk].iter().rev());
        self.current.iter().rev().chain(waiting).copied().collect()
    }

    pub fn len(&self) -> usize {
        self.current.len() + self.waiting.values().map(Vec::len).sum::<usize>()
    }

    pub fn get(&self, n: usize) -> Option<usize> {
        self.order().get(n).copied()
    }

    pub fn remove(&mut self, index: usize) {
        self.current.retain(|&free| free != index);
        self.waiting
            .values_mut()
            .for_each(|list| list.retain(|&free| free != index));
    }
}

/// Where the bytes written into a live block came from.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub block: NonNull<u8>,
    pub byte: u8,
}

/// The n-th entry (modulo the length) of a map, if it is not empty.
pub fn nth<V>(map: &mut BTreeMap<usize, V>, n: usize) -> Option<(&usize, &mut V)> {
    let len = map.len();
    (len > 0).then(|| map.iter_mut().nth(n % len))?
}

/// The two ends of a block that patterns are written to: all of it when it is small.
pub fn spans(stride: usize) -> [(usize, usize); 2] {
    let head = stride.min(PATTERN_SPAN);
    let tail = (stride - head).min(PATTERN_SPAN);
    [(0, head), (stride - tail, tail)]
}

pub fn fill(block: NonNull<u8>, stride: usize, byte: u8) {
    for (start, len) in spans(stride) {
        // SAFETY: the block is live, ours, and `stride` bytes long; `start + len <= stride`.
        unsafe { block.as_ptr().add(start).write_bytes(byte, len) };
    }
}

pub fn verify(index: usize, live: Live, stride: usize) {
    for (start, len) in spans(stride) {
        // SAFETY: as in `fill`; the bytes were written by `fill`.
        let bytes = unsafe { std::slice::from_raw_parts(live.block.as_ptr().add(start), len) };
        assert!(
            all_bytes_are(bytes, live.byte),
            "block {index} lost its contents at bytes {start}..{}",
            start + len
        );
    }
}

/// Whether every byte of `bytes` is `byte`: compared a slice at a time (one `memcmp`), not a
/// byte at a time, which the fuzzer's comparison tracing makes slow.
pub fn all_bytes_are(bytes: &[u8], byte: u8) -> bool {
    let pattern = [byte; PATTERN_SPAN];
    bytes
        .chunks(PATTERN_SPAN)
        .all(|chunk| chunk == &pattern[..chunk.len()])
}

/// Every refusal says what happened, with the address or block it is about.
pub fn check_message(error: &FreeError) {
    let message = error.to_string();
    match *error {
        FreeError::NotInPool { addr } => {
            assert!(message.contains(&format!("{addr:#x}")), "{message}");
            assert!(message.contains("not a block of this pool"), "{message}");
        }
        FreeError::Misaligned { block, offset, .. } => {
            assert!(
                message.contains(&format!("{offset} bytes into block {block}")),
                "{message}"
            )
        }
        FreeError::DoubleFree { block, .. } => {
            assert!(
                message.contains(&format!("block {block} at 0x")),
                "{message}"
            )
        }
    }
}

/// What `free(addr)` must answer for a pool of `count` blocks of `stride` bytes from
/// `first_block`, whose block `i` is in `state(i)`: `Ok` with the block's index if it is in
/// use, otherwise the error, worked out from the model alone.
pub fn expect_free(
    addr: usize,
    first_block: usize,
    stride: usize,
    count: usize,
    state: impl Fn(usize) -> BlockState,
) -> Result<usize, FreeError> {
    let offset = addr.wrapping_sub(first_block) as u128;
    if addr < first_block || offset >= stride as u128 * count as u128 {
        return Err(FreeError::NotInPool { addr });
    }
    let (block, offset) = (offset / stride as u128, offset % stride as u128);
    let (block, offset) = (block as usize, offset as usize);
    if offset != 0 {
        return Err(FreeError::Misaligned {
            addr,
            block,
            offset,
        });
    }
    match state(block) {
        BlockState::InUse => Ok(block),
        state => Err(FreeError::DoubleFree { addr, block, state }),
    }
}
