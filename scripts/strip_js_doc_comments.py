#!/usr/bin/env python3
"""Drops the JSDoc comments from wasm-bindgen's JavaScript glue, in place.

wasm-bindgen copies every exported item's Rust doc comment into the glue as a `/** … */`
block: 11 KB of the 38 KB the page loads, read by nobody there. The same docs stay in the
`.d.ts` file (for editors) and in the Rust source. Only whole comment blocks that start a
line are removed, so no code changes.

    scripts/strip_js_doc_comments.py www/pkg/memory_pool.js
"""

import re
import sys

DOC_BLOCK = re.compile(r"^[ \t]*/\*\*.*?\*/[ \t]*\n", re.DOTALL | re.MULTILINE)


def main():
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        stripped = DOC_BLOCK.sub("", text)
        with open(path, "w", encoding="utf-8") as file:
            file.write(stripped)
        print(f"{path}: {len(text.encode())} -> {len(stripped.encode())} bytes (doc comments dropped)")


if __name__ == "__main__":
    main()
