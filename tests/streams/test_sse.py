"""Server-Sent Events conformance to the WHATWG HTML event-stream format, field by field."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linestream.exceptions import StreamTruncated
from linestream.streams.sse import FRAMING, KEEPALIVE, MEDIA_TYPE, ServerSentEvent, SseDecoder, encode_event


def events(data: bytes) -> list[ServerSentEvent]:
    decoder = SseDecoder()
    found = decoder.feed(data)
    found += decoder.close()
    return found


def test_item_frame_is_one_data_event() -> None:
    assert MEDIA_TYPE == "text/event-stream"
    assert FRAMING.encode(b'{"a":1}', first=True) == b'data: {"a":1}\n\n'
    assert KEEPALIVE.startswith(b":")


def test_every_field_is_written_in_order() -> None:
    event = ServerSentEvent(raw_data="x", event="update", id="42", retry=3000, comment="hello")
    assert encode_event(event) == b": hello\nevent: update\nid: 42\nretry: 3000\ndata: x\n\n"


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "a\r\nb", "a\n\nb", "\n", "", "trailing\n"])
def test_multi_line_data_becomes_several_data_lines_and_round_trips(text: str) -> None:
    frame = encode_event(ServerSentEvent(raw_data=text))
    assert frame.count(b"data:") == len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    (decoded,) = events(frame)
    assert decoded.raw_data == text.replace("\r\n", "\n").replace("\r", "\n")


def test_multi_line_comment_becomes_several_comment_lines() -> None:
    assert encode_event(ServerSentEvent(comment="a\nb")) == b": a\n: b\n\n"
    assert events(encode_event(ServerSentEvent(comment="a\nb"))) == []


@pytest.mark.parametrize("field", ["event", "id"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb"])
def test_line_breaks_in_event_or_id_are_refused(field: str, bad: str) -> None:
    with pytest.raises(ValueError, match=f"{field} may not contain a line break"):
        ServerSentEvent(raw_data="x", **{field: bad})  # type: ignore[arg-type]


def test_nul_in_id_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        ServerSentEvent(raw_data="x", id="a\0b")


@pytest.mark.parametrize("retry", [-1, 1.5, "10", True])
def test_retry_must_be_a_non_negative_integer(retry: object) -> None:
    with pytest.raises(ValueError, match="retry"):
        ServerSentEvent(raw_data="x", retry=retry)  # type: ignore[arg-type]


def test_data_and_raw_data_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        ServerSentEvent(data={"a": 1}, raw_data="x")


def test_parser_handles_all_line_endings_bom_and_one_leading_space() -> None:
    stream = b"\xef\xbb\xbfdata:  two spaces\r\n\r\ndata:nospace\r\rdata: lf\n\n"
    assert [event.raw_data for event in events(stream)] == [" two spaces", "nospace", "lf"]


def test_bom_split_across_chunks_is_dropped() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert [e.raw_data for e in decoder.feed(b"\xbfdata: x\n\n")] == ["x"]


def test_crlf_split_across_chunks_is_one_line_break() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert [e.raw_data for e in decoder.feed(b"\r\n")] == ["a"]


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert [e.raw_data for e in events(b": ping\nfoo: bar\ndata: x\n\n")] == ["x"]


def test_field_without_colon_has_an_empty_value() -> None:
    assert [e.raw_data for e in events(b"data\n\n")] == [""]


def test_event_without_data_is_not_dispatched_but_its_id_is_kept() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"id: 5\nevent: nothing\n\n") == []
    assert decoder.last_event_id == "5"
    (event,) = decoder.feed(b"data: x\n\n")
    assert (event.id, event.event) == ("5", None)


def test_id_with_nul_is_ignored_and_empty_id_resets() -> None:
    decoder = SseDecoder()
    decoder.feed(b"id: 1\ndata: a\n\n")
    decoder.feed(b"id: 2\x003\ndata: b\n\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"id\ndata: c\n\n")
    assert decoder.last_event_id == ""


def test_retry_with_non_digits_is_ignored() -> None:
    decoder = SseDecoder()
    decoder.feed(b"retry: 1000\ndata: a\n\n")
    decoder.feed(b"retry: 5s\ndata: b\n\n")
    assert decoder.retry == 1000


def test_event_type_is_reset_after_dispatch() -> None:
    first, second = events(b"event: custom\ndata: a\n\ndata: b\n\n")
    assert (first.event, second.event) == ("custom", None)


def test_stream_ending_inside_an_event_is_truncated() -> None:
    decoder = SseDecoder()
    decoder.feed(b"data: a\n\ndata: b\n")
    with pytest.raises(StreamTruncated) as caught:
        decoder.close()
    assert caught.value.items_received == 1


@given(
    st.text(),
    st.one_of(st.none(), st.text().filter(lambda s: "\r" not in s and "\n" not in s)),
    st.one_of(st.none(), st.text().filter(lambda s: not ({"\r", "\n", "\0"} & set(s)))),
    st.one_of(st.none(), st.integers(0, 10**9)),
)
def test_any_event_round_trips(data: str, event_type: str | None, event_id: str | None, retry: int | None) -> None:
    event = ServerSentEvent(raw_data=data, event=event_type, id=event_id, retry=retry)
    (decoded,) = events(encode_event(event))
    assert decoded.raw_data == data.replace("\r\n", "\n").replace("\r", "\n")
    assert decoded.event == (event_type or None)
    assert decoded.id == (event_id or None)
    assert decoded.retry == retry


def test_a_stream_that_ends_with_a_lone_cr_dispatches_its_last_event() -> None:
    decoder = SseDecoder()
    assert [event.raw_data for event in decoder.feed(b"data: 1\r\rdata: 2\r")] == ["1"]
    # The final CR was held back in case a LF followed; at the end it is the blank line of event 2.
    assert decoder.feed(b"\r") == []
    assert [event.raw_data for event in decoder.close()] == ["2"]
