//! The page's "A real program's heap": the committed trace (`www/trace/readme.trace`, made by
//! `make trace`) replayed on the teaching heap and on the size classes, natively and (on
//! wasm32) in a browser. The final counters must be the ones `tests/readme_trace.expected`
//! gives, which the page's end-to-end test (tests/e2e/beyond.test.js) also compares the page
//! with: so the page's replay is the allocators' own, on the same trace.
//!
//! The heap's numbers depend on the machine word (its headers are one word: 8 bytes natively,
//! 4 on wasm32), so the file gives them for each. Of the size classes', only the bytes their
//! regions hold depend on the target (on wasm32 the classes start smaller and grow gently:
//! `src/size_classes.rs`), so the file gives `classes.held` for each too.

use std::collections::BTreeMap;

use memory_pool::trace::{Replay, ReplayCounters, Trace, TraceEvent, REPLAY_HEAP_BYTES};
use memory_pool::{SizeClasses, CLASS_SIZES};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const TRACE: &[u8] = include_bytes!("../www/trace/readme.trace");
const EXPECTED: &str = include_str!("readme_trace.expected");

/// The expected file: `name value` lines, `#` comments.
fn expected() -> BTreeMap<&'static str, u64> {
    EXPECTED
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, value) = line.split_once(' ').expect("name value");
            (name, value.trim().parse().expect("a whole number"))
        })
        .collect()
}

/// The final counters under the expected file's names, for this machine's word.
fn named(c: &ReplayCounters) -> BTreeMap<String, u64> {
    let heap = format!("heap{}", usize::BITS);
    let classes_held = if cfg!(target_arch = "wasm32") {
        "classes.wasm32.held"
    } else {
        "classes.held"
    };
    [
        ("events".to_string(), c.events as u64),
        ("requested".to_string(), c.requested as u64),
        ("peak_requested".to_string(), c.peak_requested as u64),
        ("classes.reserved".to_string(), c.classes.reserved as u64),
        (classes_held.to_string(), c.classes.held as u64),
        ("classes.failed".to_string(), c.classes.failed),
        (format!("{heap}.reserved"), c.heap.reserved as u64),
        (format!("{heap}.free"), c.heap.free as u64),
        (format!("{heap}.largest_free"), c.heap.largest_free as u64),
        (format!("{heap}.searched"), c.heap.searched),
        (format!("{heap}.failed"), c.heap.failed),
    ]
    .into_iter()
    .collect()
}

/// What the size classes reserve for a request, worked out from the classes' table (not
/// from the allocator): its class's block size, or whole 4 KiB pages above the classes.
fn class_bytes(size: usize, align: usize) -> usize {
    let layout = core::alloc::Layout::from_size_align(size, align).unwrap();
    match SizeClasses::class_for(layout) {
        Some(class) => CLASS_SIZES[class],
        None => size.next_multiple_of(4096),
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_committed_trace_decodes_and_encodes_to_the_same_bytes() {
    let trace = Trace::decode(TRACE).expect("the committed trace is valid");
    assert_eq!(trace.encode(), TRACE);
    assert!(
        trace.events().len() > 1000,
        "a real program's trace, not a toy"
    );
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn replaying_the_readme_trace_ends_with_the_expected_counters() {
    let trace = Trace::decode(TRACE).unwrap();
    let mut replay = Replay::new(&trace, REPLAY_HEAP_BYTES).unwrap();
    // Beside the replay, the program's live blocks worked out from the events alone.
    let mut live: Vec<Option<(usize, usize)>> = Vec::new();
    let mut index = 0;
    while replay.step(&trace) {
        match trace.events()[index] {
            TraceEvent::Alloc { size, align } => live.push(Some((size, align))),
            TraceEvent::Free { block } => live[block] = None,
            TraceEvent::Realloc { block, new_size } => {
                live[block] = live[block].map(|(_, align)| (new_size, align))
            }
        }
        index += 1;
        let counters = replay.counters();
        let blocks = live.iter().flatten();
        assert_eq!(
            counters.requested,
            blocks.clone().map(|&(size, _)| size).sum::<usize>(),
            "event {index}"
        );
        let reserved: usize = blocks.map(|&(size, align)| class_bytes(size, align)).sum();
        assert_eq!(
            counters.classes.reserved, reserved,
            "event {index}: the classes' own counts"
        );
        assert_eq!(
            counters.heap.reserved + counters.heap.free,
            REPLAY_HEAP_BYTES - REPLAY_HEAP_BYTES % 8
        );
    }
    let got = named(&replay.counters());
    let expected = expected();
    let mismatches: Vec<String> = got
        .iter()
        .filter(|(name, value)| expected.get(name.as_str()) != Some(value))
        .map(|(name, value)| {
            format!(
                "{name} {value} (expected {:?})",
                expected.get(name.as_str())
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "the replay's final counters differ from tests/readme_trace.expected (after `make trace`, \
         copy these in):\n{}",
        mismatches.join("\n")
    );
    assert_eq!(
        got[&format!("heap{}.failed", usize::BITS)],
        0,
        "the heap is large enough"
    );
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_damaged_trace_is_refused_with_where_and_why() {
    assert!(Trace::decode(b"not a trace").is_err());
    let cut = Trace::decode(&TRACE[..TRACE.len() - 1]).unwrap_err();
    assert!(cut.event > 0, "{cut}");
    // A free of a block allocated after it: refused, not replayed.
    let mut bytes = b"MPTRACE2".to_vec();
    bytes.extend_from_slice(&[2, 0, 8, 1, 5]);
    assert!(Trace::decode(&bytes).is_err());
    // A huge event count with no events behind it reserves nothing and is refused.
    let mut huge = b"MPTRACE2".to_vec();
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(Trace::decode(&huge).is_err());
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn any_bytes_decode_to_a_trace_or_an_error_and_every_trace_replays() {
    // The page hands the module whatever bytes it fetched: no input may panic (a panic would
    // cross the wasm boundary). Random bytes, the real trace cut short, and the real trace
    // with one byte changed (often still a trace: a size changed).
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut valid, mut refused) = (0, 0);
    for round in 0..3000 {
        let mut bytes = if round % 2 == 0 {
            let mut bytes = b"MPTRACE2".to_vec();
            bytes.extend((0..random() % 64).map(|_| random() as u8));
            bytes
        } else if round % 4 == 1 {
            TRACE[..(8 + random() as usize % (TRACE.len() - 8))].to_vec()
        } else {
            TRACE.to_vec()
        };
        if round % 2 == 1 {
            let at = 8 + random() as usize % (bytes.len() - 8).max(1);
            if at < bytes.len() {
                bytes[at] = random() as u8;
            }
        }
        match Trace::decode(&bytes) {
            Ok(trace) => {
                valid += 1;
                let mut replay = Replay::new(&trace, 4096).unwrap();
                while replay.step(&trace) {}
                assert!(replay.counters().heap.reserved <= 4096);
            }
            Err(error) => {
                refused += 1;
                assert!(!error.to_string().is_empty());
            }
        }
    }
    assert!(valid > 0 && refused > 0, "{valid} valid, {refused} refused");
}
