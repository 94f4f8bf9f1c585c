//! `SizeClasses` against the general-purpose allocators it would replace, on a mixed workload:
//! random sizes, random allocate / free / reallocate, in the spirit of talc's published
//! benchmark (sizes 1 B – 10 KB).
//!
//! | name | what it is |
//! |---|---|
//! | `size-classes` | [`memory_pool::SizeClasses`] through `GlobalAlloc`, in a `static` |
//! | `glibc` | `std::alloc::System`: glibc's `malloc`, `free`, `realloc` |
//! | `mimalloc` | Microsoft's mimalloc, through the `mimalloc` crate |
//!
//! One run of a workload is a fixed, pre-generated script of 100,000 operations over 1,000
//! slots: an empty slot is filled (`alloc` of a random size); a full one is freed or resized
//! (`realloc` to a new random size), half and half; every block gets its first and last byte
//! written, as a program would. Two size distributions:
//! - `uniform-1B-10KB`: every size from 1 to 10,000 bytes equally likely (talc's choice;
//!   59 % of requests are above 4 KiB, the size-class allocator's large path);
//! - `log-uniform-1B-10KB`: every power of two equally likely, so small requests dominate,
//!   as in most programs.
//!
//! `make bench-size-classes` runs it; criterion prints the time per run and operations per
//! second.

// The peers are native libraries; on wasm32 (`cargo clippy --all-targets --target wasm32-…`)
// this file compiles to nothing.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
    use memory_pool::SizeClasses;

    const SLOTS: usize = 1_000;
    const OPERATIONS: usize = 100_000;
    const MAX_SIZE: usize = 10_000;

    static SIZE_CLASSES: SizeClasses = SizeClasses::new();

    /// One step of the script: which slot, and the size to use if it allocates or resizes.
    #[derive(Clone, Copy)]
    struct Step {
        slot: u32,
        size: u32,
        /// For a full slot: free it (`true`) or resize it.
        free: bool,
    }

    /// xorshift64: a fixed script, the same for every contender.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn script(mut size: impl FnMut(&mut Rng) -> usize) -> Vec<Step> {
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

    fn uniform(rng: &mut Rng) -> usize {
        1 + (rng.next() % MAX_SIZE as u64) as usize
    }

    fn log_uniform(rng: &mut Rng) -> usize {
        // 2^0 .. 2^13.3 ≈ 10,000, uniform in the exponent.
        let exponent = (rng.next() % 1_000) as f64 / 1_000.0 * (MAX_SIZE as f64).log2();
        (exponent.exp2() as usize).clamp(1, MAX_SIZE)
    }

    /// Runs the script on `allocator`, then frees what is left.
    fn run(allocator: &dyn GlobalAlloc, steps: &[Step], slots: &mut [(usize, *mut u8)]) {
        let layout = |size: usize| Layout::from_size_align(size, 8).unwrap();
        // SAFETY: every block is used within its size, freed or resized once, with the layout
        // it currently has.
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
                assert!(!block.is_null());
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

    fn mixed(c: &mut Criterion) {
        let contenders: [(&str, &dyn GlobalAlloc); 3] = [
            ("size-classes", &SIZE_CLASSES),
            ("glibc", &System),
            ("mimalloc", &mimalloc::MiMalloc),
        ];
        for (name, sizes) in [
            ("uniform-1B-10KB", script(uniform)),
            ("log-uniform-1B-10KB", script(log_uniform)),
        ] {
            let mut group = c.benchmark_group(format!("mixed/{name}"));
            group.throughput(Throughput::Elements(OPERATIONS as u64));
            group.sample_size(20);
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(3));
            for (contender, allocator) in contenders {
                let mut slots = vec![(0usize, std::ptr::null_mut::<u8>()); SLOTS];
                group.bench_function(BenchmarkId::from_parameter(contender), |b| {
                    b.iter(|| run(allocator, &sizes, &mut slots))
                });
            }
            group.finish();
        }
    }

    criterion_group!(benches, mixed);
}
