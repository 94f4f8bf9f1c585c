#!/usr/bin/env python3
"""Drops the doc comments from wasm-bindgen's JavaScript glue and indents it with tabs, in place.

wasm-bindgen copies every exported item's Rust doc comment into the glue (`/** … */` blocks,
a quarter of the file). The page does not read them; the TypeScript declarations beside the
glue (`memory_pool.d.ts`) keep every one of them for editors, and docs.rs has them too. Only
whole-line comment blocks are dropped (a line that is `/**`, up to the next line that is
`*/`). Every other line keeps its text; only its indentation changes, each four leading spaces
becoming one tab (a fifth of the glue is indentation). That cannot change a string: the glue
has no string that spans lines, which is checked (a line with an odd count of backticks).

    scripts/strip_glue_docs.py www/pkg/memory_pool.js
"""

import sys


def strip(text):
    out, in_doc = [], False
    for line in text.splitlines(keepends=True):
        bare = line.strip()
        if not in_doc and bare == "/**":
            in_doc = True
        elif in_doc:
            if bare == "*/":
                in_doc = False
            elif not bare.startswith("*"):
                raise ValueError(f"unexpected line inside a doc comment: {line!r}")
        else:
            if line.count("`") % 2:
                raise ValueError(f"a template string may span lines here: {line!r}")
            code = line.lstrip(" ")
            levels, spaces = divmod(len(line) - len(code), 4)
            out.append("\t" * levels + " " * spaces + code)
    if in_doc:
        raise ValueError("a doc comment does not end")
    return "".join(out)


def main(paths):
    for path in paths:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        stripped = strip(text)
        with open(path, "w", encoding="utf-8") as file:
            file.write(stripped)
        print(f"{path}: {len(text.encode())} -> {len(stripped.encode())} bytes (doc comments dropped, tabs for indentation)")


if __name__ == "__main__":
    main(sys.argv[1:])
