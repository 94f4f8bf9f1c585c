//! The mixed workload shared by `benches/size_classes.rs` (native, criterion) and
//! `tests/wasm_mixed.rs` (wasm32): a fixed script of random allocate / free / reallocate
//! steps over a set of slots, run through any `GlobalAlloc`.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;

/// Slots the script works on: at most this many blocks are live at once.
pub const SLOTS: usize = 1_000;
/// Steps in one script.
pub const OPERATIONS: usize = 100_000;
/// The largest request, in bytes.
pub const MAX_SIZE: usize = 10_000;

/// One step of the script: which slot, and the size to use if it allocates or resizes.
#[derive(Clone, Copy)]
pub struct Step {
    slot: u32,
    size: u32,
    /// For a full slot: free it (`true`) or resize it.
    free: bool,
}

/// xorshift64: a fixed script, the same for every contender.
pub struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The script: an empty slot is filled with a block of `size(rng)` bytes; a full one is freed
/// or resized to `size(rng)` bytes, half and half.
pub fn script(mut size: impl FnMut(&mut Rng) -> usize) -> Vec<Step> {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    (0..OPERATIONS)
        .map(|_| {
            let slot = (rng.next() % SLOTS as u64) as u32;
            let free = rng.next() % 2 == 0;
            Step {
                slot,
                size: size(&mut rng) as u32,
                free,
            }
        })
        .collect()
}

/// Every size from 1 to [`MAX_SIZE`] equally likely (talc's benchmark).
pub fn uniform(rng: &mut Rng) -> usize {
    1 + (rng.next() % MAX_SIZE as u64) as usize
}

/// Every power of two up to [`MAX_SIZE`] equally likely: small requests dominate.
pub fn log_uniform(rng: &mut Rng) -> usize {
    let exponent = (rng.next() % 1_000) as f64 / 1_000.0 * (MAX_SIZE as f64).log2();
    (exponent.exp2() as usize).clamp(1, MAX_SIZE)
}

/// Empty slots for [`run`].
pub fn slots() -> Vec<(usize, *mut u8)> {
    vec![(0, std::ptr::null_mut()); SLOTS]
}

/// Runs the script on `allocator`, writing each block's first and last byte as a program
/// would, then frees what is left.
pub fn run(allocator: &dyn GlobalAlloc, steps: &[Step], slots: &mut [(usize, *mut u8)]) {
    let layout = |size: usize| Layout::from_size_align(size, 8).unwrap();
    // SAFETY: every block is used within its size, freed or resized once, with the layout it
    // currently has.
    unsafe {
        for step in steps {
            let (size, block) = &mut slots[step.slot as usize];
            let new_size = step.size as usize;
            if block.is_null() {
                *block = allocator.alloc(layout(new_size));
                *size = new_size;
            } else if step.free {
                allocator.dealloc(*block, layout(*size));
                *block = std::ptr::null_mut();
                continue;
            } else {
                *block = allocator.realloc(*block, layout(*size), new_size);
                *size = new_size;
            }
            assert!(!block.is_null(), "out of memory");
            block.write(1);
            block.add(*size - 1).write(2);
        }
        for (size, block) in slots.iter_mut() {
            if !block.is_null() {
                black_box(block.read());
                allocator.dealloc(*block, layout(*size));
                *block = std::ptr::null_mut();
            }
        }
    }
}
