"""A JSON Lines file is not held whole (engine/linefile.py): its lines are read again from the
file as booking reaches them. The same items, line numbers and errors as reading it whole; a
file that changes under the run is refused before anything of it is booked; no descriptor is left open."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from test_ledger import BAKERY, dump, receipt

from tillpost.api import book, load_rules, read_receipts
from tillpost.cli import main
from tillpost.engine import linefile
from tillpost.engine.linefile import CHANGED, LineFile
from tillpost.engine.receipts import InputError, parse_input, read_input
from tillpost.ledger import Store, process


def _outcome(read):
    """What reading gives, comparable: the records as they are seen, or the input's error."""
    try:
        records = read()
    except InputError as e:
        return ("error", str(e))
    try:
        return ("records", list(records.items), records.line_numbers, records.layout, records.positions,
                records.raw, [(c.item, c.position) for c in records.closings],
                [records.where(i) for i in range(len(records))],
                # read carefully, a receipt that cannot be read is replaced by a stub, its reason kept
                [_get(records, i) for i in range(len(records))], list(records.items), records.errors)
    finally:
        records.close()


def _get(records, i: int) -> str:
    try:
        return repr(records.get(i))
    except InputError as e:
        return str(e)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


_value = st.sampled_from([
    b'{"id": "R1", "n": 1}', b'{"id": "caf\xc3\xa9", "d": "\xe2\x82\xac 3"}', b'{"a": [1, 2, {"b": null}]}',
    b'  {"lead": "space"}', b'{"x": NaN}', b'{"broken": ', b'[1, 2]', b'"text"', b'{"type": "closing", "id": "C"}',
    b'{"id": "\\ud800"}', b'{"w": "\xe9"}', b"\xf0\x9f\x98\x80", b"{}",
])
_blank = st.sampled_from([b"", b" ", b"\t", b"\r", b"  \r", b"\x0c"])
_line = st.one_of(_value, _value.map(lambda v: v + b"\r"), _blank)


@st.composite
def _jsonl(draw) -> bytes:
    lines = draw(st.lists(_line, max_size=12))
    first = draw(st.sampled_from([b'{"id": "first"}', b'{"id": "first"}\r', b"", b" ", b"[", b"{"]))
    data = b"\n".join([first, *lines])
    if draw(st.booleans()):
        data += b"\n"
    if draw(st.booleans()):
        data = linefile.BOM + data
    return data


@settings(max_examples=400, deadline=None)
@given(_jsonl(), st.sampled_from([1, 2, 3, 7, 64, 1 << 20]), st.sampled_from([1, 5, 1 << 16]))
def test_lines_read_from_the_file_are_what_reading_it_whole_gives(data, chunk, block):
    # Small chunks and blocks cut lines, characters and the byte order mark at every place.
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(linefile, "CHUNK", chunk), \
            mock.patch.object(linefile, "BLOCK", block):
        path = os.path.join(tmp, "day.jsonl")
        Path(path).write_bytes(data)
        before = _fds()
        whole = _outcome(lambda: parse_input(data, path))
        assert _outcome(lambda: read_input(path)) == whole
        assert _fds() == before
        if whole[0] == "records" and whole[3] == "lines" and not whole[6]:  # JSON Lines without closings
            with read_input(path) as records:
                assert type(records.items) is LineFile


def test_a_json_lines_file_is_read_line_by_line_and_books_as_before(tmp_path):
    rules = load_rules(BAKERY)
    receipts = [receipt(f"AMS01-K1-{n}", amount=f"{n}.25") for n in range(1, 300)]
    data = b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(r).encode() for r in receipts) + b"\r\n\r\n"
    path = tmp_path / "day.jsonl"
    path.write_bytes(data)
    records = read_receipts(str(path), rules)  # as the command line reads it
    assert type(records.items) is LineFile and records.items == parse_input(data, str(path)).items
    assert records.items[-1] == json.dumps(receipts[-1]).encode() + b"\r" and records.items[3:5] == [
        json.dumps(r).encode() + b"\r" for r in receipts[3:5]]
    assert book(rules, records).entries == book(rules, receipts).entries
    records.close()


@pytest.mark.parametrize("change", ["append", "rewrite"])
def test_a_file_changed_after_it_was_scanned_is_refused_in_words(tmp_path, change):
    rules = load_rules(BAKERY)
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(receipt(f"AMS01-K1-{n}")) + "\n" for n in range(1, 4)))
    with read_input(str(path)) as records:
        _change(path, change)
        with pytest.raises(InputError) as e:
            book(rules, records)
    assert str(e.value) == f"{path}: error: {CHANGED}"


def _change(path: Path, how: str) -> None:
    if how == "append":
        with open(path, "a") as f:
            f.write(json.dumps(receipt("AMS01-K1-9")) + "\n")
    else:  # the same size, another receipt: only the modification time tells
        data = path.read_bytes().replace(b"AMS01-K1-1", b"AMS01-K1-7")
        st = os.stat(path)
        path.write_bytes(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_a_file_changed_late_in_the_run_is_refused_when_its_last_line_is_read(tmp_path):
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(receipt(f"AMS01-K1-{n}")) + "\n" for n in range(1, 4)))
    with read_input(str(path)) as records:
        records.items[0], records.items[1]  # their block is read, the file still as it was scanned
        _change(path, "append")
        records.items[1]  # from the block read before the change
        with pytest.raises(InputError, match="the file changed while it was being read"):
            records.items[2]


def test_a_file_changed_while_it_is_scanned_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(receipt(f"AMS01-K1-{n}")) + "\n" for n in range(1, 4)))
    scan = linefile._scan

    def growing(fd, whole_value):
        found = scan(fd, whole_value)
        _change(path, "append")
        return found

    monkeypatch.setattr(linefile, "_scan", growing)
    before = _fds()
    with pytest.raises(InputError, match="the file changed while it was being read"):
        read_input(str(path))
    assert _fds() == before


def test_the_cli_exits_2_with_the_message_when_the_file_changes_under_book(tmp_path, monkeypatch, capsys):
    from tillpost.cli import booking

    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(receipt(f"AMS01-K1-{n}")) + "\n" for n in range(1, 4)))
    read = booking.read_receipts

    def read_then_change(*args, **kwargs):
        records = read(*args, **kwargs)
        _change(path, "append")
        return records

    monkeypatch.setattr(booking, "read_receipts", read_then_change)
    with pytest.raises(SystemExit) as e:
        main(["book", str(BAKERY), str(path)])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == ""
    assert f"{path}: error: {CHANGED}" in err


def test_a_final_ledger_run_on_a_file_that_changes_under_it_books_nothing(tmp_path):
    rules = load_rules(BAKERY)
    db = str(tmp_path / "ledger.sqlite")
    store = Store.open(db)
    try:
        process(rules, store, [parse_input(json.dumps([receipt("AMS01-K1-1")]).encode())], final=True)
    finally:
        store.close()
    before = dump(db)
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(receipt(f"AMS01-K1-{n}")) + "\n" for n in range(2, 60)))
    pread, reads = os.pread, []

    def pread_then_change(*args):
        reads.append(args)
        if len(reads) == 20:  # the run is well under way: lines read, booked, maybe written
            _change(path, "append")
        return pread(*args)

    store = Store.open(db)
    try:
        # A line at a time from the file (BLOCK 1), each read checked.
        with mock.patch.object(linefile, "BLOCK", 1), mock.patch.object(linefile.os, "pread", pread_then_change), \
                read_input(str(path)) as records:
            with pytest.raises(InputError, match="the file changed while it was being read"):
                process(rules, store, [records], final=True)
    finally:
        store.close()
    assert len(reads) == 20  # the read that met the change was the last
    assert dump(db) == before


def test_no_descriptor_is_left_open(tmp_path):
    rules = load_rules(BAKERY)
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(receipt(f"AMS01-K1-{n}")) + "\n" for n in range(1, 4)))
    before = _fds()
    records = read_input(str(path))
    assert _fds() == before + 1
    book(rules, records)
    del records  # the Records' end closes its file
    assert _fds() == before
    with read_input(str(path)) as records:
        pass
    assert _fds() == before and records.items.closed
    with pytest.raises(OSError):
        records.items[0]  # never another file that got the descriptor's number
    code = None
    try:
        main(["book", str(BAKERY), str(path), "-o", str(tmp_path / "out.json")])
    except SystemExit as e:
        code = e.code
    assert code == 0 and _fds() == before
    # What is read whole (a document, a file that is not UTF-8, a pipe's) leaves nothing open either.
    for data in (b"[]", b'{"id": "\xe9"}\n{}\n', b'{"type": "closing"}\n{}\n'):
        path.write_bytes(data)
        try:
            read_input(str(path)).close()
        except InputError:
            pass
        assert _fds() == before


def test_a_named_pipe_is_read_whole_as_before(tmp_path):
    import threading

    pipe = tmp_path / "day.jsonl"
    os.mkfifo(pipe)
    data = b'{"id": "a"}\n\n{"id": "b"}\n'

    def write():
        with open(pipe, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    before = _fds()
    records = read_input(str(pipe))
    writer.join()
    assert type(records.items) is list and records.items == parse_input(data).items
    assert records.line_numbers == [1, 3] and _fds() == before


def test_lines_replaced_or_let_go_of_read_as_in_a_list(tmp_path):
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(receipt(f"AMS01-K1-{n}")) + "\n" for n in range(1, 6)))
    with read_input(str(path)) as records:
        items, expected = records.items, list(records.items)
        for i, value in ((1, None), (-1, {"id": "stub"}), (2, {"id": "x"}), (2, None), (1, {"id": "again"})):
            items[i] = expected[i] = value
            assert list(items) == expected and [items[i] for i in range(-5, 5)] == expected[-5:] + expected[:5]
        with pytest.raises(IndexError):
            items[5] = None
        with pytest.raises(IndexError):
            items[5]
