//! talc's random-actions workload, natively: `SizeClasses` against the allocators a program
//! would otherwise run on, in one run, with the ratios printed.
//!
//! | name | what it is |
//! |---|---|
//! | `size-classes` | [`memory_pool::SizeClasses`] through `GlobalAlloc`, in a `static` |
//! | `glibc` | `std::alloc::System`: glibc's `malloc`, `free`, `realloc` |
//! | `mimalloc` | Microsoft's mimalloc (the `mimalloc` crate) |
//! | `jemalloc` | jemalloc (the `tikv-jemallocator` crate) |
//! | `dlmalloc` | Doug Lea's malloc in Rust (the `dlmalloc` crate, its global instance) |
//!
//! # The workload (written from the description of talc's `benches/src/bin/random_actions.rs`)
//!
//! Each thread keeps its own list of live allocations and, for a fixed time, repeats a random
//! action, one of seven equally likely:
//! - one in seven: `realloc` a random live block to a random size in `1 .. 3 · max`;
//! - three in seven: allocate, and also for the other three while fewer than 600 blocks are
//!   live (so the list never runs near empty, and does not grow without bound either);
//! - otherwise: free a random live block.
//!
//! Sizes are biased to small ones: first a cap uniform in `16 .. max`, then a size uniform in
//! `4 .. cap`. Alignments are biased to the word: `8 << (trailing zeros of a random u16) / 2`
//! (75 % 8, 19 % 16, 4 % 32, …, up to 2048). The score is actions per microsecond of wall
//! time, summed over the threads, for max sizes 200, 1000, 5000, 20000 and 100000, with 1 and
//! 2 threads (2 threads run at once, behind a barrier, each on its own list).
//!
//! Each cell is the best of `RA_TRIALS` (default 10) runs of `RA_MS` (default 200 ms, as
//! talc's) each, after a 2 ms warm-up, as talc's. Each run starts from an allocator its
//! threads left empty (the warm-up and every run free all they allocated), so an allocator
//! that gives memory back when everything is freed pays page faults again at the start of
//! each run: shorter runs weigh those five times as much (runs of 40 ms, used here before,
//! put `SizeClasses` at 0.7 times glibc at max size 20000 with two threads, where 200 ms
//! runs give 1.05). Before them, each contender runs the cell's
//! workload once for `RA_WARM_MS` (default 200 ms), not counted, so that none is measured
//! while it still maps and first touches the memory the cell needs (a page fault costs more
//! than an allocation; measured here, the first 400 ms of `SizeClasses` at max size 100000
//! ran 7 times slower than the next); the contenders take turns trial by trial, so a
//! burst of load from elsewhere on the machine falls on all of them alike, and many short
//! trials give each contender a good chance of one undisturbed run. The ratios (`SizeClasses ÷ peer`) are
//! what to read; the absolute numbers move with the machine's load, printed beside them.
//!
//! # Memory
//!
//! Then talc's memory-efficiency workload, once per contender, each in a child process of its
//! own (RSS is a whole process's): allocate (6 in 10), free (1 in 10) or `realloc` to up to
//! 10 × the max (3 in 10), max size 20000, every page of every new block touched, until the
//! live bytes reach `RA_MEMORY_MIB` (0 skips it; default 1 GiB, half of talc's 2 GiB, to spare the
//! memory of a machine shared with other jobs). It prints live bytes ÷ resident bytes then (talc's
//! measure) and the resident bytes after everything is freed, beside those at the start.
//! talc's workload touches new blocks only, so the bytes a `realloc` adds count as live
//! without ever being resident (live ÷ RSS can pass 1); a second run touches every page of a
//! resized block too, the stricter measure.
//!
//! # Why not criterion
//!
//! The workload is a throughput over a fixed duration, with its own threads and a barrier,
//! and its result is a table of ratios between contenders measured in the same run, which
//! criterion (one closure timed per benchmark, samples of iterations) does not fit.
//! `make bench-random-actions` runs it; `make bench` does too.

// The peers are native libraries; on wasm32 (`cargo clippy --all-targets --target wasm32-…`)
// this file compiles to nothing.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::fmt::Write as _;
    use std::sync::Barrier;
    use std::time::{Duration, Instant};

    use memory_pool::SizeClasses;

    static SIZE_CLASSES: SizeClasses = SizeClasses::new();

    /// The contenders, `SizeClasses` first.
    const CONTENDERS: [(&str, &(dyn GlobalAlloc + Sync)); 5] = [
        ("size-classes", &SIZE_CLASSES),
        ("glibc", &System),
        ("mimalloc", &mimalloc::MiMalloc),
        ("jemalloc", &tikv_jemallocator::Jemalloc),
        ("dlmalloc", &dlmalloc::GlobalDlmalloc),
    ];

    const MAX_SIZES: [usize; 5] = [200, 1000, 5000, 20000, 100000];
    const THREADS: [usize; 2] = [1, 2];
    /// Live blocks below which every action allocates.
    const LIVE_FLOOR: usize = 600;
    const REALLOC_FACTOR: usize = 3;
    const WARM_UP: Duration = Duration::from_millis(2);

    const MEMORY_MAX_SIZE: usize = 20000;
    const MEMORY_REALLOC_FACTOR: usize = 10;

    fn env_number(name: &str, default: u64) -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    }

    pub fn main() {
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--memory-child" {
                let name = args
                    .next()
                    .expect("a contender's name after --memory-child");
                let touch_reallocs = args.next().as_deref() == Some("touch-reallocs");
                memory_child(&name, touch_reallocs);
                return;
            }
        }
        let trials = env_number("RA_TRIALS", 10).max(1) as usize;
        let duration = Duration::from_millis(env_number("RA_MS", 200).max(1));
        let warm_up = Duration::from_millis(env_number("RA_WARM_MS", 200));
        // For a look at one cell (a profiler, a quick check): `RA_MAX_SIZE=100000 RA_THREADS=1`.
        let only = |name: &str, all: &[usize]| -> Vec<usize> {
            match std::env::var(name)
                .ok()
                .and_then(|value| value.parse().ok())
            {
                Some(value) => vec![value],
                None => all.to_vec(),
            }
        };
        let mut report = String::new();
        let line = |report: &mut String, text: String| {
            println!("{text}");
            report.push_str(&text);
            report.push('\n');
        };
        line(
            &mut report,
            format!(
                "## Random actions (talc's workload): actions per µs, best of {trials} × {} ms\n",
                duration.as_millis()
            ),
        );
        line(&mut report, format!("load before: {}", load_average()));
        let mut header = String::from("| threads | max size |");
        for (name, _) in CONTENDERS {
            write!(header, " {name} |").unwrap();
        }
        for (name, _) in &CONTENDERS[1..] {
            write!(header, " ÷ {name} |").unwrap();
        }
        line(&mut report, String::new());
        line(&mut report, header);
        line(
            &mut report,
            format!("|---|---|{}", "---|".repeat(2 * CONTENDERS.len() - 1)),
        );
        // The same figures as JSON, for `scripts/bench_report.py` (`make bench`).
        let load_before = load_average();
        let mut cells = Vec::new();
        for threads in only("RA_THREADS", &THREADS) {
            for &max_size in &only("RA_MAX_SIZE", &MAX_SIZES) {
                let mut best = [0f64; CONTENDERS.len()];
                // `RA_ONLY=size-classes`: that contender alone (the others score 0).
                let only_one = std::env::var("RA_ONLY").ok();
                // A warm-up per cell, not counted, so that every contender starts its trials
                // with the memory this cell needs already mapped and touched.
                for (name, allocator) in CONTENDERS {
                    if only_one.as_deref().is_none_or(|only| only == name) {
                        actions_per_us(allocator, max_size, threads, warm_up);
                    }
                }
                for _ in 0..trials {
                    for (score, (name, allocator)) in best.iter_mut().zip(CONTENDERS) {
                        if only_one.as_deref().is_some_and(|only| only != name) {
                            continue;
                        }
                        *score = score.max(actions_per_us(allocator, max_size, threads, duration));
                    }
                }
                let mut row = format!("| {threads} | {max_size} |");
                for score in best {
                    write!(row, " {score:.1} |").unwrap();
                }
                for peer in &best[1..] {
                    write!(row, " {:.2} |", best[0] / peer).unwrap();
                }
                line(&mut report, row);
                let speeds: Vec<String> = best.iter().map(|score| format!("{score:.3}")).collect();
                cells.push(format!(
                    r#"{{"threads": {threads}, "max_size": {max_size}, "speed": [{}]}}"#,
                    speeds.join(", ")
                ));
            }
        }
        line(&mut report, String::new());
        let load_after = load_average();
        line(&mut report, format!("load after: {load_after}"));
        line(&mut report, String::new());
        let memory = if env_number("RA_MEMORY_MIB", 1024) > 0 {
            memory_table(&mut report, &line)
        } else {
            Vec::new()
        };
        let names: Vec<String> = CONTENDERS
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        let json = format!(
            "{{\"trials\": {trials}, \"ms\": {}, \"load_before\": \"{load_before}\", \
             \"load_after\": \"{load_after}\", \"contenders\": [{}],\n\"cells\": [\n{}\n],\n\
             \"memory\": [\n{}\n]}}\n",
            duration.as_millis(),
            names.join(", "),
            cells.join(",\n"),
            memory.join(",\n")
        );
        std::fs::create_dir_all("target").ok();
        std::fs::write("target/random-actions.md", &report).expect("target/ is writable");
        std::fs::write("target/random-actions.json", json).expect("target/ is writable");
        println!("(written to target/random-actions.md and .json)");
    }

    /// The load averages of the machine (`/proc/loadavg`): the other jobs sharing it.
    fn load_average() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|text| {
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|_| "unknown".into())
    }

    /// One live allocation of the workload.
    struct Live {
        ptr: *mut u8,
        layout: Layout,
    }

    /// A size biased to small ones: a cap uniform in `16 .. max`, then a size in `4 .. cap`.
    fn random_size(rng: &mut fastrand::Rng, max: usize) -> usize {
        let cap = rng.usize(16..max);
        rng.usize(4..cap)
    }

    /// An alignment biased to the word: 8 for 3 in 4, 16 for 3 in 16, …, up to 2048.
    fn random_align(rng: &mut fastrand::Rng) -> usize {
        8 << (rng.u16(..).trailing_zeros() / 2)
    }

    /// `threads` threads run the workload on `allocator` for `duration`: actions per µs.
    fn actions_per_us(
        allocator: &(dyn GlobalAlloc + Sync),
        max_size: usize,
        threads: usize,
        duration: Duration,
    ) -> f64 {
        let barrier = Barrier::new(threads);
        let actions: u64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|seed| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let mut rng = fastrand::Rng::with_seed(0x5EED + seed as u64);
                        random_actions(allocator, max_size, &mut rng, WARM_UP);
                        barrier.wait();
                        random_actions(allocator, max_size, &mut rng, duration)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        actions as f64 / duration.as_micros() as f64
    }

    /// One thread's random actions for `duration`; returns how many it did. Everything it
    /// allocated is freed before it returns (not counted).
    fn random_actions(
        allocator: &dyn GlobalAlloc,
        max_size: usize,
        rng: &mut fastrand::Rng,
        duration: Duration,
    ) -> u64 {
        let mut live: Vec<Live> = Vec::with_capacity(100_000);
        let mut actions = 0u64;
        let start = Instant::now();
        while start.elapsed() < duration {
            for _ in 0..100 {
                let action = rng.usize(0..7);
                if action == 6 {
                    if live.is_empty() {
                        continue;
                    }
                    let index = rng.usize(0..live.len());
                    let block = &mut live[index];
                    let new_size = rng.usize(1..max_size * REALLOC_FACTOR);
                    // SAFETY: the block is live, allocated with `block.layout`; `new_size` is
                    // not zero and small enough for a layout of the same alignment.
                    let moved = unsafe { allocator.realloc(block.ptr, block.layout, new_size) };
                    assert!(!moved.is_null(), "realloc to {new_size} failed");
                    block.ptr = moved;
                    block.layout = Layout::from_size_align(new_size, block.layout.align()).unwrap();
                } else if action < 3 || live.len() < LIVE_FLOOR {
                    let layout =
                        Layout::from_size_align(random_size(rng, max_size), random_align(rng))
                            .unwrap();
                    // SAFETY: the layout's size is at least 4.
                    let ptr = unsafe { allocator.alloc(layout) };
                    assert!(!ptr.is_null(), "alloc of {layout:?} failed");
                    live.push(Live { ptr, layout });
                } else {
                    let block = live.swap_remove(rng.usize(0..live.len()));
                    // SAFETY: the block was live, allocated with this layout; freed once.
                    unsafe { allocator.dealloc(block.ptr, block.layout) };
                }
                actions += 1;
            }
        }
        for block in live {
            // SAFETY: as above.
            unsafe { allocator.dealloc(block.ptr, block.layout) };
        }
        actions
    }

    /// Resident bytes of this process (`/proc/self/statm`).
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux's /proc");
        let pages: usize = statm
            .split_whitespace()
            .nth(1)
            .and_then(|field| field.parse().ok())
            .expect("statm's second field: resident pages");
        // SAFETY: sysconf has no preconditions.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
    }

    /// Runs the memory workload on contender `name` in this (child) process and prints
    /// `live resident_at_peak resident_at_start resident_after_free`, in bytes. With
    /// `touch_reallocs`, a resized block has its pages touched too (talc's does not, so bytes
    /// a `realloc` added count as live without ever being resident).
    fn memory_child(name: &str, touch_reallocs: bool) {
        let (_, allocator) = CONTENDERS
            .iter()
            .find(|(contender, _)| *contender == name)
            .expect("a contender's name");
        let limit = (env_number("RA_MEMORY_MIB", 1024) as usize) << 20;
        let mut rng = fastrand::Rng::with_seed(0xE44);
        let mut live: Vec<Live> = Vec::with_capacity(1_000_000);
        let start = resident_bytes();
        let mut live_bytes = 0usize;
        while live_bytes < limit {
            match rng.usize(0..10) {
                0..=5 => {
                    let layout = Layout::from_size_align(
                        random_size(&mut rng, MEMORY_MAX_SIZE),
                        random_align(&mut rng),
                    )
                    .unwrap();
                    // SAFETY: the layout's size is at least 4.
                    let ptr = unsafe { allocator.alloc(layout) };
                    assert!(!ptr.is_null(), "alloc of {layout:?} failed");
                    touch_pages(ptr, layout.size());
                    live_bytes += layout.size();
                    live.push(Live { ptr, layout });
                }
                6 => {
                    if !live.is_empty() {
                        let block = live.swap_remove(rng.usize(0..live.len()));
                        live_bytes -= block.layout.size();
                        // SAFETY: the block was live, allocated with this layout.
                        unsafe { allocator.dealloc(block.ptr, block.layout) };
                    }
                }
                _ => {
                    if !live.is_empty() {
                        let index = rng.usize(0..live.len());
                        let block = &mut live[index];
                        let new_size = rng.usize(1..MEMORY_MAX_SIZE * MEMORY_REALLOC_FACTOR);
                        // SAFETY: as in `random_actions`.
                        let moved = unsafe { allocator.realloc(block.ptr, block.layout, new_size) };
                        assert!(!moved.is_null(), "realloc to {new_size} failed");
                        if touch_reallocs {
                            touch_pages(moved, new_size);
                        }
                        live_bytes = live_bytes - block.layout.size() + new_size;
                        block.ptr = moved;
                        block.layout =
                            Layout::from_size_align(new_size, block.layout.align()).unwrap();
                    }
                }
            }
        }
        let peak = resident_bytes();
        for block in live.drain(..) {
            // SAFETY: as above.
            unsafe { allocator.dealloc(block.ptr, block.layout) };
        }
        // The list of live blocks is the harness's memory (from the process's own allocator,
        // not the contender): it goes before "after" is measured, as it was not there at
        // "start" (reserved then, but untouched).
        drop(live);
        let after = resident_bytes();
        println!("{live_bytes} {peak} {start} {after}");
    }

    /// Writes one byte in every 4 KiB page of the block, as talc's workload does.
    fn touch_pages(ptr: *mut u8, size: usize) {
        for offset in (0..size).step_by(4096) {
            // SAFETY: `offset < size`, inside the block we own.
            unsafe { ptr.add(offset).write_volatile(0xAB) };
        }
    }

    /// The memory workload for every contender, each in a child process of its own; its rows
    /// as JSON objects too.
    fn memory_table(report: &mut String, line: &impl Fn(&mut String, String)) -> Vec<String> {
        let mut rows = Vec::new();
        let mib = env_number("RA_MEMORY_MIB", 1024);
        line(
            report,
            format!(
                "## Memory (talc's memory-efficiency workload, up to {mib} MiB live, max size {MEMORY_MAX_SIZE})\n"
            ),
        );
        line(
            report,
            "| allocator | reallocs touched | live ÷ RSS at peak | RSS at start | RSS after freeing all | after ÷ start |"
                .into(),
        );
        line(report, "|---|---|---|---|---|---|".into());
        let exe = std::env::current_exe().expect("the bench binary's path");
        for (touch, (name, _)) in [("talc", false), ("touch-reallocs", true)]
            .into_iter()
            .flat_map(|touch| CONTENDERS.into_iter().map(move |c| (touch, c)))
        {
            let output = std::process::Command::new(&exe)
                .args(["--memory-child", name, touch.0])
                .output()
                .expect("the bench binary runs itself");
            assert!(output.status.success(), "{name}: {output:?}");
            let numbers: Vec<usize> = String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .map(|n| n.parse().expect("four numbers"))
                .collect();
            let [live, peak, start, after] = numbers[..] else {
                panic!("{name}: {numbers:?}");
            };
            let mib = |bytes: usize| format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64);
            line(
                report,
                format!(
                    "| {name} | {} | {:.3} | {} | {} | {:.2} |",
                    if touch.1 { "yes" } else { "no (talc's)" },
                    live as f64 / peak as f64,
                    mib(start),
                    mib(after),
                    after as f64 / start as f64
                ),
            );
            rows.push(format!(
                r#"{{"name": "{name}", "touch_reallocs": {}, "live": {live}, "peak_rss": {peak}, "start_rss": {start}, "after_rss": {after}}}"#,
                touch.1
            ));
        }
        line(report, String::new());
        line(report, format!("load after: {}", load_average()));
        rows
    }
}
