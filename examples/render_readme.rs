//! Renders README.md into the playground page: the learner's story, and the developer's part.
//!
//! The README is the one source of the explanation. Its learner part (Background, Overview
//! and the sections they lead to) lies between `<!-- story:start -->` and
//! `<!-- story:end -->`; the page shows exactly that part, as an HTML fragment, and puts a
//! live figure wherever a `<!-- figure: NAME -->` marker is (here it becomes an empty
//! `<div class="figure-slot" data-figure="NAME">` that the page fills). What lies between
//! `<!-- github-only:start -->` and `<!-- github-only:end -->` (a static picture that a live
//! figure replaces) is left out of the story. On GitHub every marker is an invisible
//! comment, so the README reads as a normal README there.
//!
//! The whole README is also rendered as a page of its own, for developers; the story's one
//! link into the developer sections (`#the-playground`) points there. Headings get the ids
//! GitHub gives them, so the same `#anchor` works in both places.
//!
//! `make build` runs it:
//!
//! ```sh
//! cargo run --example render_readme -- README.md www/readme.html www/developer.html
//! ```

use std::{env, fs, process};

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

const STORY_START: &str = "<!-- story:start -->";
const STORY_END: &str = "<!-- story:end -->";
const GITHUB_ONLY_START: &str = "<!-- github-only:start -->";
const GITHUB_ONLY_END: &str = "<!-- github-only:end -->";
const FIGURE: &str = "<!-- figure: ";

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let [input, story_out, developer_out] = args.as_slice() else {
        eprintln!("usage: render_readme README.md STORY.html DEVELOPER.html");
        process::exit(2);
    };
    let markdown = fs::read_to_string(input)
        .unwrap_or_else(|err| fail(&format!("cannot read {input}: {err}")));
    let story = story_of(&markdown).unwrap_or_else(|err| fail(&format!("{input}: {err}")));

    let mut fragment = String::from(
        "<!-- Rendered from README.md (its story part) by examples/render_readme.rs; do not edit. -->\n",
    );
    fragment.push_str(&with_figure_slots(&render(&story, "developer.html")));
    write(story_out, &fragment);

    let mut page = String::from(DEVELOPER_HEAD);
    page.push_str(&render(&markdown, ""));
    page.push_str("</main>\n</body>\n</html>\n");
    write(developer_out, &page);
}

/// The story part of the README, without its github-only pieces.
fn story_of(markdown: &str) -> Result<String, String> {
    let start = markdown
        .find(STORY_START)
        .ok_or_else(|| format!("no {STORY_START} marker"))?;
    let end = markdown
        .find(STORY_END)
        .filter(|&end| end > start)
        .ok_or_else(|| format!("no {STORY_END} marker after {STORY_START}"))?;
    let mut story = &markdown[start + STORY_START.len()..end];
    let mut kept = String::new();
    while let Some(cut) = story.find(GITHUB_ONLY_START) {
        kept.push_str(&story[..cut]);
        let resume = story[cut..]
            .find(GITHUB_ONLY_END)
            .ok_or_else(|| format!("{GITHUB_ONLY_START} without {GITHUB_ONLY_END}"))?;
        story = &story[cut + resume + GITHUB_ONLY_END.len()..];
    }
    kept.push_str(story);
    Ok(kept)
}

/// Markdown to HTML, headings with GitHub's ids, and in-page links that are not figure
/// links sent to `elsewhere` (the page that has those sections), if given.
fn render(markdown: &str, elsewhere: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events: Vec<Event> = Parser::new_ext(markdown, options).collect();
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    let mut index = 0;
    while index < events.len() {
        match &events[index] {
            Event::Start(Tag::Heading { level, .. }) => {
                // A heading's text is the events up to its end; its id is GitHub's slug of it.
                let end = events[index..]
                    .iter()
                    .position(|event| matches!(event, Event::End(TagEnd::Heading(_))))
                    .map_or(events.len(), |offset| index + offset);
                let text: String = events[index + 1..end]
                    .iter()
                    .filter_map(|event| match event {
                        Event::Text(text) | Event::Code(text) => Some(text.as_ref()),
                        _ => None,
                    })
                    .collect();
                out.push(Event::Start(Tag::Heading {
                    level: *level,
                    id: Some(CowStr::from(slug(&text))),
                    classes: Vec::new(),
                    attrs: Vec::new(),
                }));
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if !elsewhere.is_empty()
                && dest_url.starts_with('#')
                && !dest_url.starts_with("#figure-") =>
            {
                out.push(Event::Start(Tag::Link {
                    link_type: *link_type,
                    dest_url: CowStr::from(format!("{elsewhere}{dest_url}")),
                    title: title.clone(),
                    id: id.clone(),
                }));
            }
            event => out.push(event.clone()),
        }
        index += 1;
    }
    let mut html_out = String::new();
    html::push_html(&mut html_out, out.into_iter());
    html_out
}

/// GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens.
fn slug(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Each `<!-- figure: NAME -->` comment becomes the empty element the page fills.
fn with_figure_slots(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(FIGURE) {
        out.push_str(&rest[..at]);
        let after = &rest[at + FIGURE.len()..];
        let Some(close) = after.find("-->") else {
            fail("a figure marker without its closing -->");
        };
        let name = after[..close].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            fail(&format!(
                "figure name {name:?}: use lowercase letters and hyphens"
            ));
        }
        out.push_str(&format!(
            "<div class=\"figure-slot\" data-figure=\"{name}\"></div>"
        ));
        rest = &after[close + 3..];
    }
    out.push_str(rest);
    out
}

const DEVELOPER_HEAD: &str = "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'\">
<title>memory-pool: the developer's README</title>
<link rel=\"icon\" href=\"data:,\">
<link rel=\"stylesheet\" href=\"style.css\">
</head>
<body>
<!-- Rendered from README.md by examples/render_readme.rs; do not edit. -->
<header class=\"site\"><p><a href=\"index.html\">← The story and its live figures</a></p></header>
<main class=\"readme developer\">
";

fn write(path: &str, text: &str) {
    fs::write(path, text).unwrap_or_else(|err| fail(&format!("cannot write {path}: {err}")));
}

fn fail(message: &str) -> ! {
    eprintln!("render_readme: {message}");
    process::exit(1);
}
