//! `SizeClasses` installed as the global allocator of this whole test binary (an integration
//! test is a crate of its own): the test harness, std's collections, strings, formatting,
//! hash maps and (natively) threads all run on it; on wasm32 the browser test runner does too. Counters are checked afterwards; since the harness
//! runs tests on several threads, checks on shared counters are lower bounds or invariants.

use std::collections::{BTreeMap, HashMap, VecDeque};

use memory_pool::{RegionLayout, SizeClasses, CLASS_COUNT};

// On wasm32 these tests also run in a browser, under `wasm-pack test --headless --chrome`.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[global_allocator]
static ALLOCATOR: SizeClasses = SizeClasses::new();

fn total_class_allocs() -> u64 {
    (0..CLASS_COUNT)
        .map(|class| ALLOCATOR.class_stats(class).unwrap().stats.total_allocs)
        .sum()
}

/// Whether `addr` lies in one of class `class`'s regions.
fn in_class(class: usize, addr: usize) -> bool {
    let mut regions = [RegionLayout::default(); memory_pool::MAX_REGIONS];
    let count = ALLOCATOR.class_regions(class, &mut regions);
    regions[..count]
        .iter()
        .any(|region| (region.blocks..region.base + region.size).contains(&addr))
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn collections_strings_and_formatting_run_on_the_pools() {
    let before = total_class_allocs();
    let mut words: Vec<String> = (0..10_000).map(|i| format!("word number {i}")).collect();
    words.sort();
    let joined = words[..3].join(", ");
    assert_eq!(joined, "word number 0, word number 1, word number 10");

    let mut counts: HashMap<String, usize> = HashMap::new();
    for word in &words {
        *counts
            .entry(word.chars().last().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(counts["7"], 1000);

    let tree: BTreeMap<usize, Vec<u8>> = (0..2000).map(|i| (i, vec![i as u8; i % 300])).collect();
    assert_eq!(tree[&1999].len(), 1999 % 300);
    let mut queue: VecDeque<Box<[u64; 8]>> = (0..500).map(|i| Box::new([i; 8])).collect();
    queue.rotate_left(100);
    assert_eq!(queue[0][7], 100);

    assert!(
        total_class_allocs() >= before + 10_000,
        "the strings came from the classes"
    );
    // A 64-byte box is a block of the 64 B class.
    let boxed = Box::new([7u64; 8]);
    assert!(in_class(4, &*boxed as *const _ as usize));
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn growing_a_vector_through_every_class_into_large_blocks_keeps_its_contents() {
    let mut bytes = Vec::new();
    for i in 0..1_500_000u32 {
        bytes.push(i as u8);
    }
    assert!(bytes.iter().enumerate().all(|(i, &b)| b == i as u8));
    let large = ALLOCATOR.large_stats();
    assert!(large.total_allocs >= 1 && large.reallocs_moved >= 10); // past 1 MiB
    let mut text = String::with_capacity(100);
    let start = text.as_ptr();
    text.push_str(&"x".repeat(100));
    text.reserve_exact(20); // 100 → 120 bytes: the same 128 B class, so the same block
    assert_eq!(text.as_ptr(), start);
    text.reserve_exact(100); // 200 bytes: the 256 B class, so it moves
    assert_ne!(text.as_ptr(), start);
    assert_eq!(text, "x".repeat(100));
}

/// Native only: wasm32 here is one thread.
#[test]
#[cfg(not(target_arch = "wasm32"))]
fn threads_share_the_allocator_and_pass_blocks_between_them() {
    use std::sync::{mpsc, Arc, Mutex};
    use std::thread;

    let (send, receive) = mpsc::channel::<Vec<String>>();
    let shared = Arc::new(Mutex::new(Vec::new()));
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let send = send.clone();
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for batch in 0..200 {
                    let strings: Vec<String> = (0..20)
                        .map(|i| format!("thread {t} batch {batch} item {i}"))
                        .collect();
                    shared.lock().unwrap().push(Box::new(batch * t));
                    send.send(strings).unwrap();
                }
            })
        })
        .collect();
    drop(send);
    // This thread frees what the others allocated.
    let mut received = 0;
    for strings in receive {
        assert!(strings[19].ends_with("item 19"));
        received += strings.len();
    }
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(received, 4 * 200 * 20);
    assert_eq!(shared.lock().unwrap().len(), 800);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn no_free_from_std_is_ever_refused() {
    // Run some work first so the check sees more than the harness.
    let data: Vec<Vec<u16>> = (0..1000).map(|i| vec![1; i]).collect();
    drop(data);
    for class in 0..CLASS_COUNT {
        let stats = ALLOCATOR.class_stats(class).unwrap();
        assert_eq!(stats.stats.rejected.total(), 0, "class {class}: {stats:?}");
        assert!(stats.stats.in_use <= stats.capacity);
    }
}

/// Native only. Threads that live briefly, under load: waves of threads each allocate
/// strings and boxes, hand half of them to the next thread over a channel, free what the
/// previous one handed them, and exit with blocks of theirs still alive elsewhere. The
/// shards (one per thread, dealt in turn) are reused by later threads; no exit handler runs,
/// none is needed, and no free is ever refused.
#[test]
#[cfg(not(target_arch = "wasm32"))]
fn short_lived_threads_under_load_hand_blocks_over_and_exit() {
    use std::sync::mpsc;
    use std::thread;

    const WAVES: usize = 8;
    const THREADS_PER_WAVE: usize = 8;
    let (first_send, mut receive) = mpsc::channel::<Vec<String>>();
    first_send.send(Vec::new()).unwrap();
    drop(first_send);
    let mut handed_total = 0;
    for wave in 0..WAVES {
        let mut threads = Vec::new();
        for t in 0..THREADS_PER_WAVE {
            let (send, next_receive) = mpsc::channel::<Vec<String>>();
            let from_previous = std::mem::replace(&mut receive, next_receive);
            threads.push(thread::spawn(move || {
                let mine: Vec<String> = (0..500)
                    .map(|i| format!("wave {wave} thread {t} item {i} {}", "x".repeat(i % 300)))
                    .collect();
                let boxes: Vec<Box<[u8; 5000]>> = (0..20).map(|i| Box::new([i; 5000])).collect();
                for received in from_previous {
                    assert!(received.iter().all(|s| s.starts_with("wave ")));
                    drop(received); // blocks another (maybe finished) thread allocated
                }
                let (mut kept, mut handed) = (Vec::new(), Vec::new());
                for (i, string) in mine.into_iter().enumerate() {
                    if i % 2 == 0 {
                        kept.push(string);
                    } else {
                        handed.push(string);
                    }
                }
                assert_eq!(boxes[19][4999], 19);
                let count = handed.len();
                send.send(handed).unwrap();
                drop(kept);
                count
            }));
        }
        for thread in threads {
            handed_total += thread.join().unwrap();
        }
    }
    // The last thread's hand-over is freed here, on the test's own thread.
    let left: usize = receive.iter().map(|strings| strings.len()).sum();
    assert_eq!(left, 250);
    assert_eq!(handed_total, WAVES * THREADS_PER_WAVE * 250);
    for class in 0..CLASS_COUNT {
        let stats = ALLOCATOR.class_stats(class).unwrap();
        assert_eq!(stats.stats.rejected.total(), 0, "class {class}: {stats:?}");
    }
}
