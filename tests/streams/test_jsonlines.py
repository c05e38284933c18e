"""The JSON Lines codec: framing, incremental decoding at any chunk split, limits and truncation."""

import json

import pydantic_core
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linestream.exceptions import FrameTooLarge, StreamTruncated
from linestream.streams.jsonlines import FRAMING, MEDIA_TYPE, JsonLinesDecoder

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


def encode_all(values: list[object]) -> bytes:
    return b"".join(
        FRAMING.encode(pydantic_core.to_json(value), first=index == 0) for index, value in enumerate(values)
    )


def test_media_type_and_frame() -> None:
    assert MEDIA_TYPE == "application/jsonl"
    assert FRAMING.encode(b'{"a":1}', first=True) == b'{"a":1}\n'
    assert FRAMING.encode(b'{"a":1}', first=False) == b'{"a":1}\n'


@given(st.lists(json_values, max_size=8), st.lists(st.integers(min_value=1, max_value=64), min_size=1))
def test_round_trip_at_arbitrary_chunk_splits(values: list[object], sizes: list[int]) -> None:
    data = encode_all(values)
    decoder = JsonLinesDecoder()
    frames: list[bytes] = []
    position = 0
    index = 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        frames += decoder.feed(data[position : position + size])
        position += size
        index += 1
    frames += decoder.close()
    assert [json.loads(frame) for frame in frames] == values
    assert decoder.frames_decoded == len(values)


def test_line_separators_inside_strings_do_not_split_frames() -> None:
    value = {"text": "a\u2028b\u2029c\x85d"}
    encoded = pydantic_core.to_json(value)
    assert "\u2028".encode() in encoded  # pydantic-core leaves them unescaped
    assert JsonLinesDecoder().feed(encoded + b"\n") == [encoded]


def test_crlf_and_blank_lines_are_accepted() -> None:
    decoder = JsonLinesDecoder()
    assert decoder.feed(b'{"a":1}\r\n\r\n  \n2\r\n') == [b'{"a":1}', b"2"]


def test_incomplete_final_line_raises_truncated() -> None:
    decoder = JsonLinesDecoder()
    assert decoder.feed(b'{"a":1}\n{"a":') == [b'{"a":1}']
    with pytest.raises(StreamTruncated) as caught:
        decoder.close()
    assert caught.value.items_received == 1
    assert "line 2" in str(caught.value)


def test_final_line_without_newline_can_be_accepted() -> None:
    decoder = JsonLinesDecoder(require_final_newline=False)
    assert decoder.feed(b"1\n2") == [b"1"]
    assert decoder.close() == [b"2"]


def test_frame_larger_than_the_limit_is_refused_before_its_end() -> None:
    decoder = JsonLinesDecoder(max_frame_size=8)
    assert decoder.feed(b"1234\n") == [b"1234"]
    with pytest.raises(FrameTooLarge, match="Line 2 is longer than max_frame_size=8"):
        decoder.feed(b"123456789")


def test_complete_line_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(FrameTooLarge):
        JsonLinesDecoder(max_frame_size=4).feed(b"123456\n")


def test_invalid_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        JsonLinesDecoder(max_frame_size=0)
