//! Records the allocation trace of a real program: pulldown-cmark rendering the story part of
//! README.md into HTML, the work `examples/render_readme.rs` does for the page, while it
//! counts the story's words. A recording `GlobalAlloc`
//! notes every `alloc`, `realloc` and `free` (size and alignment) while the program runs, and
//! the trace is written in the compact format of `memory_pool::trace` for the page's
//! "A real program's heap", which replays it on the teaching heap and on the size classes.
//!
//! `make trace` runs it:
//!
//! ```sh
//! cargo run --release --example record_trace -- README.md www/trace/readme.trace
//! ```
//!
//! The recorder allocates nothing itself while it records: the events go into a fixed
//! array, and are turned into a trace (numbering the blocks by address) only afterwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::{env, fs, process};

use memory_pool::trace::{Trace, TraceEvent};
use pulldown_cmark::{html, Event, Options, Parser};

/// One call, as the recorder saw it: addresses, not yet block numbers.
#[derive(Clone, Copy)]
enum Call {
    Alloc {
        at: usize,
        size: usize,
        align: usize,
    },
    Free {
        at: usize,
    },
    Realloc {
        from: usize,
        to: usize,
        new_size: usize,
    },
}

/// Room for this many calls (the README's rendering makes a few thousand).
const CAPACITY: usize = 1 << 20;

/// The system allocator, and a note of every call while `recording` is on.
struct Recorder {
    recording: AtomicBool,
    /// Calls noted so far (may pass `CAPACITY`: then the calls beyond it were lost).
    len: AtomicUsize,
    calls: UnsafeCell<[Option<Call>; CAPACITY]>,
}

// SAFETY: each call's slot is claimed by a `fetch_add` of `len`, so no two threads write the
// same slot; the slots are read only after recording has stopped (`take`).
unsafe impl Sync for Recorder {}

impl Recorder {
    fn note(&self, call: Call) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let slot = self.len.fetch_add(1, Ordering::Relaxed);
        if slot < CAPACITY {
            // SAFETY: `slot` is ours alone (see `Sync`), and inside the array.
            unsafe { (*self.calls.get())[slot] = Some(call) };
        }
    }

    /// Stops recording and returns the calls.
    fn take(&self) -> Vec<Call> {
        self.recording.store(false, Ordering::SeqCst);
        let len = self.len.load(Ordering::SeqCst);
        if len > CAPACITY {
            fail(&format!(
                "the program made {len} calls; the recorder holds {CAPACITY}"
            ));
        }
        // SAFETY: recording is off, so nobody writes the slots any more.
        let calls = unsafe { &*self.calls.get() };
        calls[..len]
            .iter()
            .map(|call| call.expect("every slot below len was written"))
            .collect()
    }
}

// SAFETY: every call is passed to `System` unchanged; noting it allocates nothing.
unsafe impl GlobalAlloc for Recorder {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let at = unsafe { System.alloc(layout) };
        if !at.is_null() {
            self.note(Call::Alloc {
                at: at.addr(),
                size: layout.size(),
                align: layout.align(),
            });
        }
        at
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let at = unsafe { System.alloc_zeroed(layout) };
        if !at.is_null() {
            self.note(Call::Alloc {
                at: at.addr(),
                size: layout.size(),
                align: layout.align(),
            });
        }
        at
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        self.note(Call::Free { at: block.addr() });
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let to = unsafe { System.realloc(block, layout, new_size) };
        if !to.is_null() {
            self.note(Call::Realloc {
                from: block.addr(),
                to: to.addr(),
                new_size,
            });
        }
        to
    }
}

#[global_allocator]
static RECORDER: Recorder = Recorder {
    recording: AtomicBool::new(false),
    len: AtomicUsize::new(0),
    calls: UnsafeCell::new([None; CAPACITY]),
};

/// The program whose heap is recorded: read the README, render its story part (the text the
/// page shows) to HTML as the page's build does, and on the way count its words of four
/// letters or more (a word index: a map from each word, in lower case, to how often it
/// occurs); sum it up in a line naming the most frequent words, and let everything else go.
fn program(input: &str) -> String {
    let readme = fs::read_to_string(input)
        .unwrap_or_else(|err| fail(&format!("cannot read {input}: {err}")));
    let start = readme.find("<!-- story:start -->").unwrap_or(0);
    let end = readme.find("<!-- story:end -->").unwrap_or(readme.len());
    let markdown = readme[start..end].to_string();
    drop(readme);
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut out = String::new();
    let events = Parser::new_ext(&markdown, options).inspect(|event| {
        if let Event::Text(text) = event {
            for word in text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 3)
            {
                // A new string per word; kept if the word is new, dropped at once if not.
                *counts.entry(word.to_lowercase()).or_insert(0) += 1;
            }
        }
    });
    html::push_html(&mut out, events);
    let mut ranked: Vec<(&String, &usize)> = counts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top: Vec<String> = ranked
        .iter()
        .take(10)
        .map(|(word, n)| format!("{word} {n}"))
        .collect();
    format!(
        "{} bytes of HTML, {} distinct words; most frequent: {}",
        out.len(),
        counts.len(),
        top.join(", ")
    )
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: record_trace README.md OUT.trace");
        process::exit(2);
    };
    RECORDER.recording.store(true, Ordering::SeqCst);
    let summary = program(input);
    let calls = RECORDER.take();

    // Number the blocks: an address names the block most recently allocated there.
    let mut blocks: HashMap<usize, usize> = HashMap::new();
    let mut next = 0;
    let mut events = Vec::with_capacity(calls.len());
    for call in calls {
        let block_at = |blocks: &mut HashMap<usize, usize>, at| {
            blocks.remove(&at).unwrap_or_else(|| {
                fail(&format!(
                    "a free of {at:#x}, never allocated while recording"
                ))
            })
        };
        match call {
            Call::Alloc { at, size, align } => {
                blocks.insert(at, next);
                next += 1;
                events.push(TraceEvent::Alloc { size, align });
            }
            Call::Free { at } => events.push(TraceEvent::Free {
                block: block_at(&mut blocks, at),
            }),
            Call::Realloc { from, to, new_size } => {
                let block = block_at(&mut blocks, from);
                blocks.insert(to, block);
                events.push(TraceEvent::Realloc { block, new_size });
            }
        }
    }
    let trace = Trace::new(events).unwrap_or_else(|err| fail(&err.to_string()));
    let bytes = trace.encode();
    fs::write(output, &bytes).unwrap_or_else(|err| fail(&format!("cannot write {output}: {err}")));
    let count = |kind: fn(&TraceEvent) -> bool| trace.events().iter().filter(|e| kind(e)).count();
    println!(
        "{output}: {} events ({} allocs, {} reallocs, {} frees) in {} bytes. The program: {summary}",
        trace.events().len(),
        count(|e| matches!(e, TraceEvent::Alloc { .. })),
        count(|e| matches!(e, TraceEvent::Realloc { .. })),
        count(|e| matches!(e, TraceEvent::Free { .. })),
        bytes.len(),
    );
}

fn fail(message: &str) -> ! {
    eprintln!("record_trace: {message}");
    process::exit(1);
}
