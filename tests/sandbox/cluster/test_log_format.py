"""Container log files in the CRI format: written line by line, read back as the kubelet does."""

from __future__ import annotations

import re

from modeldeploy.sandbox.apiserver.logs import (
    MAX_ENTRY_BYTES,
    LogEntry,
    cri_lines,
    entries,
    plain_text,
    timestamp_now,
)

NOW = "2026-12-01T10:00:00.000000001Z"


def test_complete_lines_are_written_and_the_rest_waits() -> None:
    written, pending = cri_lines("stdout", b"one\ntwo\nthr", False, NOW)
    assert written == f"{NOW} stdout F one\n{NOW} stdout F two\n".encode()
    assert pending == b"thr"
    written, pending = cri_lines("stderr", pending + b"ee", True, NOW)  # the stream ended
    assert written == f"{NOW} stderr F three\n".encode()
    assert pending == b""


def test_a_long_line_is_split_into_parts() -> None:
    line = b"x" * (MAX_ENTRY_BYTES + 10)
    written, pending = cri_lines("stdout", line + b"\n", False, NOW)
    assert pending == b""
    parsed = list(entries(written))
    assert [len(e.content) for e in parsed] == [MAX_ENTRY_BYTES, 11]  # a P part, then F + \n
    assert plain_text(written) == (line + b"\n").decode()


def test_reading_gives_times_and_contents_and_tolerates_plain_lines() -> None:
    data = f"{NOW} stdout F hello\n{NOW} stderr P par\n{NOW} stderr F tial\nplain\n".encode()
    assert list(entries(data)) == [
        LogEntry(NOW, b"hello\n"),
        LogEntry(NOW, b"par"),
        LogEntry(NOW, b"tial\n"),
        LogEntry("", b"plain\n"),
    ]
    assert plain_text(data) == "hello\npartial\nplain\n"


def test_timestamps_are_rfc3339_nano_in_utc() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", timestamp_now())
