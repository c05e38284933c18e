"""Every decoder's work is linear in its input, however hostile the input and its chunking: the bytes a decoder
examines (``bytes_examined``, counted where it searches and splits) stay within a small multiple of the bytes
fed, at 10 KB and at 160 KB alike. A decoder that re-scans its buffer on every chunk fails this by a factor
that grows with the input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from linestream.exceptions import StreamDecodeError
from linestream.streams import JsonArrayDecoder, JsonLinesDecoder, JsonSeqDecoder, NdjsonDecoder, SseDecoder

#: Bytes examined per byte fed, at most: a byte is copied once, scanned when it arrives and once more when the
#: line, record or element it belongs to is cut out.
FACTOR = 6


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def long_line(n: int) -> bytes:
    return b'{"text":"' + b"a" * n + b'"}\n'


CASES: dict[str, tuple[Callable[[], Any], Callable[[int], bytes], int]] = {
    "jsonl one long line, 3-byte chunks": (JsonLinesDecoder, long_line, 3),
    "ndjson many blank lines": (NdjsonDecoder, lambda n: b"\n" * n + b"1\n", 7),
    "jsonl many tiny items": (JsonLinesDecoder, lambda n: b"1\n" * (n // 2), 5),
    "json-seq one record in chunks ending in LF": (
        JsonSeqDecoder,
        lambda n: b"\x1e[" + b"1,\n" * (n // 3) + b"1]\n",
        3,
    ),
    "json-seq a long string in chunks ending in LF": (
        JsonSeqDecoder,
        lambda n: b'\x1e["' + b"ab\\n" * (n // 4) + b'"]\n',
        4,
    ),
    "json-seq many separators": (JsonSeqDecoder, lambda n: b"\x1e" * n + b"1\n", 11),
    "sse one long data line": (SseDecoder, lambda n: b"data: " + b"x" * n + b"\n\n", 3),
    "sse CR line endings": (SseDecoder, lambda n: b"data: 1\r\r" * (n // 9), 2),
    "sse many comments": (SseDecoder, lambda n: b":\n" * (n // 2) + b"data: 1\n\n", 5),
    "json array one long string": (JsonArrayDecoder, lambda n: b'["' + b"a" * n + b'"]', 3),
    "json array many elements": (JsonArrayDecoder, lambda n: b"[" + b"0," * (n // 2) + b"0]", 7),
    "json array deep nesting": (JsonArrayDecoder, lambda n: b"[" + b"[" * (n // 2) + b"]" * (n // 2) + b"]", 5),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("size", [10_000, 160_000])
def test_work_is_linear_in_the_input(case: str, size: int) -> None:
    make_decoder, make_input, chunk = CASES[case]
    decoder = make_decoder()
    data = make_input(size)
    try:
        for piece in chunks(data, chunk):
            decoder.feed(piece)
        decoder.close()
    except StreamDecodeError:
        pass  # invalid input is fine: the decoder must still not work harder than linear to find that out
    examined = decoder.bytes_examined
    assert examined <= FACTOR * len(data), f"{case}: {examined / len(data):.1f} bytes examined per byte fed"
