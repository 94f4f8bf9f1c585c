//! Renders README.md to an HTML fragment for the playground page.
//!
//! The README is the one source of the explanation: the page shows this fragment beside the
//! memory map instead of a hand-made copy. `make build` runs it:
//!
//! ```sh
//! cargo run --example render_readme -- README.md www/readme.html
//! ```

use std::{env, fs, process};

use pulldown_cmark::{html, Options, Parser};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: render_readme README.md OUTPUT.html");
        process::exit(2);
    };
    let markdown = fs::read_to_string(input).unwrap_or_else(|err| {
        eprintln!("cannot read {input}: {err}");
        process::exit(1);
    });
    let mut fragment = String::from(
        "<!-- Rendered from README.md by examples/render_readme.rs; do not edit. -->\n",
    );
    html::push_html(
        &mut fragment,
        Parser::new_ext(
            &markdown,
            Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
        ),
    );
    fs::write(output, fragment).unwrap_or_else(|err| {
        eprintln!("cannot write {output}: {err}");
        process::exit(1);
    });
}
