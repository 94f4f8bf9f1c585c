#!/usr/bin/env python3
"""Drops the `name` custom section from a WebAssembly module, in place.

The name section maps function indices to Rust names for backtraces; the page does not need
it (a panic still prints its message through console_error_panic_hook), and it is a fifth of
the module. Every other section is copied byte for byte. wasm-opt would do this too, but it
is off (Cargo.toml says why).

    scripts/strip_wasm_names.py www/pkg/memory_pool_bg.wasm
"""

import sys


def leb128(data, at):
    """An unsigned LEB128 number at `at`: (value, offset after it)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def strip(data):
    if data[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module")
    out, at = bytearray(data[:8]), 8
    while at < len(data):
        start = at
        section_id = data[at]
        size, body = leb128(data, at + 1)
        at = body + size
        if section_id == 0:
            name_length, name_at = leb128(data, body)
            if data[name_at:name_at + name_length] == b"name":
                continue
        out += data[start:at]
    return bytes(out)


if __name__ == "__main__":
    path = sys.argv[1]
    with open(path, "rb") as module:
        data = module.read()
    stripped = strip(data)
    with open(path, "wb") as module:
        module.write(stripped)
    print(f"{path}: {len(data)} -> {len(stripped)} bytes (name section dropped)")
