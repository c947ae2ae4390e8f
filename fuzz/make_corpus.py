#!/usr/bin/python3
"""Writes the fuzzer's seed corpus, fuzz/corpus/: a few valid safetensors files
(valid_*) and one malformed file per rule of the format (bad_*), each a few
hundred bytes at most. tests/cli/check_inspect.cmake runs `tapegrad inspect`
on every bad_* file.

Run: /usr/bin/python3 fuzz/make_corpus.py   (plain python3 works too: no torch needed)
"""
import json
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent / "corpus"


def raw(header, data=b"", length=None):
    text = header if isinstance(header, bytes) else header.encode("utf-8")
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def good(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return raw(text, data)


def main():
    OUT.mkdir(exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, float("inf"))
    files = {
        "valid_small": good({"__metadata__": {"format": "pt"}, "w": entry("F32", [2, 2], 0, 16),
                             "b": entry("F32", [], 16, 20)}, f32 + struct.pack("<f", 3.0)),
        "valid_dtypes": good({"h": entry("F16", [2], 0, 4), "bf": entry("BF16", [2], 4, 8),
                              "d": entry("F64", [1], 8, 16), "i": entry("I64", [1, 1], 16, 24),
                              "e": entry("F32", [0, 5], 24, 24)},
                             struct.pack("<4H", 0x3c00, 0x7e00, 0x3f80, 0x0001) + struct.pack("<d", 0.1)
                             + struct.pack("<q", -7)),
        "valid_empty": good({}, b""),
        # Found by the fuzzer: no elements, but 2^62.6 of them would overflow a byte count.
        "valid_empty_large_shape": good({"w": entry("F64", [0, 2 ** 32, 4, 94967296], 0, 0)}, b""),
        "bad_short": b"\x02\x00\x00",
        "bad_header_past_end": raw("{}", length=64),
        "bad_header_over_limit": raw("{}", length=2 ** 40),
        "bad_not_utf8": raw(b'{"w\xff":{}}'),
        "bad_not_json": raw('{"w": {"dtype": '),
        "bad_number_overflow": raw('{"w": {"dtype": "F32", "shape": [1e3627776], "data_offsets": [0, 4]}}', b"\0" * 4),
        "bad_not_object": raw("[1, 2, 3]"),
        "bad_entry_not_object": raw('{"w": [0, 4]}', b"\0" * 4),
        "bad_missing_field": raw('{"w": {"dtype": "F32", "shape": [1]}}', b"\0" * 4),
        "bad_extra_field": raw('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 0}}', b"\0" * 4),
        "bad_dtype_not_string": raw('{"w": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4),
        "bad_unknown_dtype": raw('{"w": {"dtype": "Q8", "shape": [1], "data_offsets": [0, 1]}}', b"\0"),
        "bad_shape": raw('{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', b"\0" * 4),
        "bad_offsets": raw('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}', b"\0" * 4),
        "bad_out_of_range": raw('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', b"\0" * 8),
        "bad_begin_after_end": raw('{"w": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}', b"\0" * 4),
        "bad_overlap": raw('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                           '"b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}', b"\0" * 12),
        "bad_gap": raw('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                       '"b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}', b"\0" * 12),
        "bad_trailing_bytes": raw('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 9),
        "bad_byte_count": raw('{"w": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}', b"\0" * 8),
        "bad_count_overflow": raw('{"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776], '
                                  '"data_offsets": [0, 4]}}', b"\0" * 4),
        "bad_count_overflow_zero": raw('{"w": {"dtype": "F32", "shape": [0, 4294967296, 4294967296], '
                                       '"data_offsets": [0, 0]}}'),
        "bad_duplicate_name": raw('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                                  '"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4),
        "bad_metadata": raw('{"__metadata__": {"step": 1}}'),
    }
    for name, blob in files.items():
        assert len(blob) <= 512, name
        (OUT / f"{name}.safetensors").write_bytes(blob)


if __name__ == "__main__":
    main()
