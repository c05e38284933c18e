"""The stream state machine: its transitions, and every cell of the endings table (reason, started, plan)."""

from __future__ import annotations

import itertools
import logging

import pytest

from linestream._engine.state import ENDINGS, EndReason, Frame, Phase, Raise, StreamState

R = EndReason
# (reason, started, resumable, records): (frame, finish, raises, log level). Written out cell by cell, not
# derived: ``resumable`` is a plan with a shutdown frame (SSE asks its client to come back), ``records`` one
# with an error record (stream_errors="record").
EXPECTED = {
    # A complete stream sends its end record (if the plan has one) and ends cleanly, however it is framed.
    **{(R.COMPLETE, s, r, e): (Frame.END, True, None, None) for s, r, e in itertools.product((False, True), repeat=3)},
    # Before the start, a failure is the error itself (a real status); after it, a record or a truncation.
    **{
        (R.FAILED, False, r, e): (None, False, Raise.ERROR, None) for r, e in itertools.product((False, True), repeat=2)
    },
    (R.FAILED, True, False, True): (Frame.ERROR, True, None, logging.ERROR),
    (R.FAILED, True, True, True): (Frame.ERROR, True, None, logging.ERROR),
    (R.FAILED, True, False, False): (None, False, Raise.ABORTED, logging.ERROR),
    (R.FAILED, True, True, False): (None, False, Raise.ABORTED, logging.ERROR),
    # Nothing can reach a client that left; one that stopped reading is logged.
    **{(R.CLIENT_GONE, s, r, e): (None, False, None, None) for s, r, e in itertools.product((False, True), repeat=3)},
    **{
        (R.SEND_TIMEOUT, s, r, e): (None, False, None, logging.WARNING)
        for s, r, e in itertools.product((False, True), repeat=3)
    },
    # A shutdown: 503 before the start; after it, "come back" where the format can say it, else truncated.
    **{
        (R.SHUTDOWN, False, r, e): (None, False, Raise.UNAVAILABLE, None)
        for r, e in itertools.product((False, True), repeat=2)
    },
    (R.SHUTDOWN, True, True, False): (Frame.SHUTDOWN, True, None, None),
    (R.SHUTDOWN, True, True, True): (Frame.SHUTDOWN, True, None, None),
    (R.SHUTDOWN, True, False, False): (None, False, None, None),
    (R.SHUTDOWN, True, False, True): (None, False, None, None),
    # Expired credentials: 401 before the start; after it, "come back" (SSE), else an error record, else aborted.
    **{
        (R.EXPIRED, False, r, e): (None, False, Raise.EXPIRED, None)
        for r, e in itertools.product((False, True), repeat=2)
    },
    (R.EXPIRED, True, True, False): (Frame.SHUTDOWN, True, None, None),
    (R.EXPIRED, True, True, True): (Frame.SHUTDOWN, True, None, None),
    (R.EXPIRED, True, False, True): (Frame.ERROR, True, None, None),
    (R.EXPIRED, True, False, False): (None, False, Raise.ABORTED, logging.INFO),
    # Its lifetime reached (max_stream_duration): as an expiry after the start; a 503 (Retry-After) before it.
    **{
        (R.LIFETIME, False, r, e): (None, False, Raise.UNAVAILABLE, None)
        for r, e in itertools.product((False, True), repeat=2)
    },
    (R.LIFETIME, True, True, False): (Frame.SHUTDOWN, True, None, None),
    (R.LIFETIME, True, True, True): (Frame.SHUTDOWN, True, None, None),
    (R.LIFETIME, True, False, True): (Frame.ERROR, True, None, None),
    (R.LIFETIME, True, False, False): (None, False, Raise.ABORTED, logging.INFO),
}


def test_the_table_has_every_cell_and_no_other() -> None:
    assert set(ENDINGS) == set(EXPECTED)
    assert len(ENDINGS) == len(EndReason) * 8


@pytest.mark.parametrize("cell", sorted(EXPECTED, key=lambda cell: (cell[0].value, cell[1:])), ids=str)
def test_each_cell_ends_as_specified(cell: tuple[EndReason, bool, bool, bool]) -> None:
    ending = ENDINGS[cell]
    frame, finish, raises, level = EXPECTED[cell]
    assert (ending.frame, ending.finish, ending.raises) == (frame, finish, raises)
    assert (ending.log[0] if ending.log else None) == level


def test_a_stream_starts_once_then_ends_then_is_ended() -> None:
    state = StreamState()
    assert (state.phase, state.started, state.ending) == (Phase.BEFORE_START, False, False)
    state.start()
    assert (state.phase, state.started) == (Phase.STREAMING, True)
    with pytest.raises(AssertionError):
        state.start()
    assert state.end(R.COMPLETE)
    assert (state.phase, state.reason, state.started) == (Phase.ENDING, R.COMPLETE, True)
    state.ended()
    assert state.phase is Phase.ENDED


def test_an_error_before_the_start_ends_a_stream_that_never_started() -> None:
    state = StreamState()
    state.end(R.FAILED)
    assert (state.phase, state.started) == (Phase.ENDING, False)
    assert state.ending_with(resumable=True, records=True).raises is Raise.ERROR


def test_a_later_cause_replaces_the_reason_only_if_it_ranks_higher() -> None:
    state = StreamState()
    assert state.end(R.FAILED)
    assert state.end(R.SHUTDOWN)  # the generator failed because the shutdown closed it
    assert not state.end(R.FAILED)
    assert state.end(R.CLIENT_GONE)  # nothing can be sent, whatever else happened
    assert not state.end(R.SHUTDOWN)
    assert state.end(R.SEND_TIMEOUT)
    assert not state.end(R.CLIENT_GONE)
    assert state.reason is R.SEND_TIMEOUT
    assert state.client_gone


def test_the_ranking_runs_from_a_clean_end_to_a_client_that_stopped_reading() -> None:
    assert sorted(EndReason, key=lambda reason: reason.rank) == [
        R.COMPLETE,
        R.FAILED,
        R.EXPIRED,
        R.LIFETIME,
        R.SHUTDOWN,
        R.CLIENT_GONE,
        R.SEND_TIMEOUT,
    ]


def test_a_cause_after_the_end_does_not_reopen_the_stream() -> None:
    state = StreamState()
    state.end(R.COMPLETE)
    state.ended()
    state.end(R.CLIENT_GONE)
    assert state.phase is Phase.ENDED
