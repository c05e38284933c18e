"""Every codec: encode -> decode round-trips for arbitrary JSON values at arbitrary chunk splits, and truncation."""

import json
from typing import Any

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linestream.exceptions import FrameTooLarge, StreamDecodeError, StreamTruncated
from linestream.streams import FORMATS, StreamFormat, format_for_media_type, format_named

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


def encode(stream_format: StreamFormat, values: list[Any]) -> bytes:
    framing = stream_format.framing
    frames = [framing.encode(pydantic_core.to_json(value), first=index == 0) for index, value in enumerate(values)]
    return framing.head + b"".join(frames) + framing.tail


def decode(stream_format: StreamFormat, chunks: list[bytes]) -> list[Any]:
    decoder = stream_format.decoder()
    frames: list[Any] = []
    for chunk in chunks:
        frames += decoder.feed(chunk)
    frames += decoder.close()
    if stream_format.name == "sse":
        return [json.loads(event.raw_data) for event in frames]
    return [json.loads(frame) for frame in frames]


def feed_and_close(decoder: Any, data: bytes) -> list[Any]:
    frames: list[Any] = decoder.feed(data)
    return frames + decoder.close()


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, position, index = [], 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        chunks.append(data[position : position + size])
        position += size
        index += 1
    return chunks


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
@settings(max_examples=150)
@given(values=st.lists(json_values, max_size=8), sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_round_trip_at_arbitrary_chunk_splits(stream_format: StreamFormat, values: list[Any], sizes: list[int]) -> None:
    assert decode(stream_format, split(encode(stream_format, values), sizes)) == values


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
@given(values=st.lists(json_values, min_size=1, max_size=5), data=st.data())
def test_a_stream_cut_inside_a_frame_is_reported_truncated(
    stream_format: StreamFormat, values: list[Any], data: st.DataObject
) -> None:
    encoded = encode(stream_format, values)
    framing = stream_format.framing
    # Cut after the head and before the end of the last frame (past its last meaningful byte).
    last = framing.encode(pydantic_core.to_json(values[-1]), first=len(values) == 1) + framing.tail
    cut = data.draw(st.integers(len(encoded) - len(last) + 1, len(encoded) - 1))
    decoder = stream_format.decoder()
    with pytest.raises(StreamTruncated) as caught:
        feed_and_close(decoder, encoded[:cut])
    assert caught.value.items_received <= len(values)


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_line_separators_inside_strings_survive(stream_format: StreamFormat) -> None:
    values = [{"text": "a\u2028b\u2029c\x85d"}, "\r\n"]
    encoded = encode(stream_format, values)
    assert "\u2028".encode() in encoded
    assert decode(stream_format, [encoded]) == values


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_frames_over_the_size_limit_are_refused(stream_format: StreamFormat) -> None:
    decoder = stream_format.decoder(max_frame_size=16)
    with pytest.raises(FrameTooLarge):
        decoder.feed(encode(stream_format, ["x" * 64]))


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_invalid_frame_limit_is_refused(stream_format: StreamFormat) -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        stream_format.decoder(max_frame_size=0)


def test_formats_by_name_and_media_type() -> None:
    assert [f.name for f in FORMATS] == ["jsonl", "ndjson", "json-seq", "sse", "json"]
    assert format_named("application/x-ndjson").name == "ndjson"
    assert format_for_media_type("text/event-stream; charset=utf-8") is format_named("sse")
    assert format_for_media_type("text/html") is None
    with pytest.raises(ValueError, match="choose among 'jsonl'"):
        format_named("xml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{}", "must be a JSON array"),
        (b"[,1]", "where element 1 should start"),
        (b"[1 2]", "expected ',' or ']'"),
        (b"[1] 2", "after the end of the array"),
        (b"[1,]", "where element 2 should start"),
        (b"[{]", "mismatched .]. in element 1"),
    ],
)
def test_json_array_decoder_rejects_malformed_arrays(body: bytes, message: str) -> None:
    decoder = format_named("json").decoder()
    with pytest.raises(StreamDecodeError, match=message):
        feed_and_close(decoder, body)


def test_json_array_element_is_delivered_before_the_next_arrives() -> None:
    decoder = format_named("json").decoder()
    assert decoder.feed(b'[{"a":1}') == [b'{"a":1}']
    assert decoder.feed(b', "b"') == [b'"b"']
    assert decoder.feed(b", 3") == []  # a number only ends at the next ',' or ']'
    assert decoder.feed(b"]") == [b"3"]


def test_json_seq_requires_the_record_separator_first() -> None:
    with pytest.raises(StreamDecodeError, match="must start with the separator"):
        format_named("json-seq").decoder().feed(b'{"a":1}\n')


def test_json_seq_record_without_line_feed_before_the_next_is_refused() -> None:
    with pytest.raises(StreamDecodeError, match="does not end with a line feed"):
        format_named("json-seq").decoder().feed(b"\x1e1\x1e2\n")


def test_json_seq_delivers_a_live_record_and_accepts_pretty_json() -> None:
    decoder = format_named("json-seq").decoder()
    assert decoder.feed(b'\x1e{"a":\n') == []
    assert decoder.feed(b"  1}\n") == [b'{"a":\n  1}']
    assert decoder.feed(b"\x1e\x1e2\n") == [b"2"]
