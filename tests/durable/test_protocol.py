"""The Durable Streams protocol's vocabulary, without I/O (linestream/durable/_protocol.py): every header a client
sends is parsed or refused with the status the protocol names and a detail that says what is accepted."""

from __future__ import annotations

import time

import pytest

from linestream.durable._protocol import (
    ZERO_OFFSET,
    Producer,
    ProtocolError,
    advance,
    cursor_after,
    entity_tag,
    is_json,
    is_text,
    is_true,
    json_messages,
    media_type,
    parse_expires_at,
    parse_offset,
    parse_producer,
    parse_sub_offset,
    parse_ttl,
)


def refused(status: int) -> pytest.RaisesExc[ProtocolError]:
    return pytest.raises(ProtocolError, check=lambda error: error.status == status)


def test_offsets_advance_by_chunk_and_byte_and_sort_as_positions() -> None:
    first = advance(ZERO_OFFSET, 5)
    second = advance(first, 0)
    assert first == "0000000000000001_0000000000000005"
    assert ZERO_OFFSET < first < second
    assert parse_offset(first) == first


@pytest.mark.parametrize("offset", ["", "1_2", "abc", "0000000000000001_000000000000000x", "../etc"])
def test_an_offset_this_server_did_not_mint_is_refused(offset: str) -> None:
    with refused(400):
        parse_offset(offset)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("TRUE", True), ("false", False), ("1", False)])
def test_only_true_in_any_case_is_true(value: str, expected: bool) -> None:
    assert is_true(value) is expected
    assert is_true(None) is False


def test_media_types_are_compared_without_parameters_or_case() -> None:
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type("not a type") == ""
    assert media_type(None) == ""
    assert is_json("application/json;x=1")
    assert is_text("text/plain")
    assert is_text("application/json")
    assert not is_text("application/octet-stream")


@pytest.mark.parametrize("value", ["+1", "01", "1.0", "1e3", "-1", " 1", ""])
def test_a_ttl_is_a_plain_decimal(value: str) -> None:
    with refused(400):
        parse_ttl(value)
    assert parse_ttl("0") == 0
    assert parse_ttl("3600") == 3600


def test_expires_at_is_an_rfc_3339_moment_with_a_zone() -> None:
    assert parse_expires_at("2030-01-01T00:00:00Z") == 1893456000.0
    for value in ("tomorrow", "2030-01-01T00:00:00"):
        with refused(400):
            parse_expires_at(value)


def test_a_sub_offset_is_a_non_negative_integer() -> None:
    assert parse_sub_offset("3") == 3
    with refused(400):
        parse_sub_offset("-1")


def test_producer_headers_go_together_and_are_bounded_integers() -> None:
    assert parse_producer({}) is None
    assert parse_producer({"producer-id": "p", "producer-epoch": "1", "producer-seq": "2"}) == Producer("p", 1, 2)
    for headers in (
        {"producer-id": "p"},
        {"producer-id": "", "producer-epoch": "0", "producer-seq": "0"},
        {"producer-id": "p", "producer-epoch": "1e3", "producer-seq": "0"},
        {"producer-id": "p", "producer-epoch": "0", "producer-seq": str(2**53)},
        {"producer-id": "p", "producer-epoch": "٣", "producer-seq": "0"},  # a digit, but not an ASCII one
    ):
        with refused(400):
            parse_producer(headers)


def test_json_mode_flattens_one_level_and_refuses_what_is_not_json() -> None:
    assert json_messages(b'{"a": 1}', creating=False) == [b'{"a":1}']
    assert json_messages(b"[[1, 2], [3]]", creating=False) == [b"[1,2]", b"[3]"]
    assert json_messages(b"[]", creating=True) == []
    with refused(400):
        json_messages(b"[]", creating=False)
    for body in (b"{", b"NaN", b"[1,]"):
        with refused(400):
            json_messages(body, creating=False)


def test_cursors_move_on_even_when_a_client_holds_the_current_one() -> None:
    current = int(cursor_after(None))
    assert int(cursor_after(str(current - 5))) == current
    assert int(cursor_after(str(current))) > current
    assert int(cursor_after("not a number")) == current
    assert current == pytest.approx((time.time() - 1728432000) / 20, abs=2)


def test_an_entity_tag_changes_when_the_stream_closes() -> None:
    open_tag = entity_tag("a/b", "-1", ZERO_OFFSET, closed=False)
    assert entity_tag("a/b", "-1", ZERO_OFFSET, closed=True) == open_tag[:-1] + ':c"'
