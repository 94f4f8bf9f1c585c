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
//! `pair-64B` is one 64-byte block allocated and freed over and over on one thread, for
//! `Pool`, `SyncPool`, `SizeClasses` and the two peers: the price of sharing.
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
#[path = "mixed/workload.rs"]
mod workload;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::alloc::{GlobalAlloc, System};
    use std::time::Duration;

    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
    use memory_pool::SizeClasses;

    use crate::workload::{log_uniform, run, script, slots, uniform, OPERATIONS};

    static SIZE_CLASSES: SizeClasses = SizeClasses::new();

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
                let mut slots = slots();
                group.bench_function(BenchmarkId::from_parameter(contender), |b| {
                    b.iter(|| run(allocator, &sizes, &mut slots))
                });
            }
            group.finish();
        }
    }

    /// One 64-byte block allocated and freed, over and over, on one thread: what the lock
    /// (`SizeClasses`) or the atomics (`SyncPool`) cost next to the plain `Pool`.
    fn pair(c: &mut Criterion) {
        use std::alloc::Layout;
        use std::hint::black_box;

        use memory_pool::{Pool, SyncPool};

        let layout = Layout::from_size_align(64, 8).unwrap();
        let mut group = c.benchmark_group("pair-64B");
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(2));
        let mut pool = Pool::new(64, 1024).unwrap();
        group.bench_function("pool", |b| {
            b.iter(|| {
                let block = black_box(pool.alloc().unwrap());
                pool.free(block).unwrap();
            })
        });
        let sync_pool = SyncPool::new(64, 1024).unwrap();
        group.bench_function("sync-pool", |b| {
            b.iter(|| {
                let block = black_box(sync_pool.alloc().unwrap());
                sync_pool.free(block).unwrap();
            })
        });
        let contenders: [(&str, &dyn GlobalAlloc); 3] = [
            ("size-classes", &SIZE_CLASSES),
            ("glibc", &System),
            ("mimalloc", &mimalloc::MiMalloc),
        ];
        for (name, allocator) in contenders {
            group.bench_function(name, |b| {
                // SAFETY: a non-zero layout; each block is freed once, with it.
                b.iter(|| unsafe {
                    let block = black_box(allocator.alloc(layout));
                    allocator.dealloc(block, layout);
                })
            });
        }
        group.finish();
    }

    criterion_group!(benches, mixed, pair);
}
