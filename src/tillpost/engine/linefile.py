"""A JSON Lines file read a line at a time as booking reaches it, never held whole.

Holding a day's lines costs some 0.7 KB a receipt until the end of the run (200 MB at
200,000 receipts). Instead the file is scanned once, in chunks, for where each line
starts and how long it is (16 bytes a line), and `LineFile[i]` reads line i again with
`os.pread` on a descriptor kept open while the lines are in use: the kernel's page
cache holds the file, and is not the process's memory as mmap'd pages would be.

The scan checks what reading the whole file checked: UTF-8 (with a byte order mark
skipped), that the file is JSON Lines at all, and whether it names a till closing.
Whenever it is not plain JSON Lines of receipts (a document, bytes that are not UTF-8,
a closing, a line longer than any receipt, a pipe), `open_lines` hands back the whole
file instead, and the reader reads it as before: its errors and results are the same
by construction.

A file that changes once scanned would book lines of two versions, or a file still
being written only its beginning: each read from the file, and the reading of its last
line, compares the file's size and modification time with the scan's. A change is the
input's error (`InputError`), raised as the line is read: `book` returns nothing, and a
ledger run aborts its transaction.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import weakref
from array import array
from collections.abc import Callable

from .decoding import BOM
from .receipts import InputError

CHUNK = 1 << 20
# A first line longer than this is no receipt of a POS: the whole file is read instead.
_FIRST_LINE_MAX = 16 * CHUNK
# Lines are read from the file in blocks of at least this much while they are read in order.
BLOCK = 1 << 16
_NOT_SPACE = re.compile(rb"\S")
_BRACE = ord("{")
CHANGED = "the file changed while it was being read; nothing of it is booked: run again once it is complete"


class FileChanged(InputError):
    """The input file changed while it was read: not wrong, only not complete yet (an
    inbox file still being written waits for the next run instead of going to failed/)."""

    def __init__(self, source: str):
        super().__init__(source, CHANGED)


def open_lines(path: str, whole_value: Callable[[bytes], bool]) -> tuple[LineFile | None, bytes | None]:
    """(the file's lines, None) when it is JSON Lines of receipts, else (None, its bytes).

    `whole_value(text)` says whether the first line (from its first non-space byte) is a
    whole JSON value, as the reader decides JSON Lines from a document. Raises OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        before = os.fstat(fd)
        scanned = None
        if stat.S_ISREG(before.st_mode):  # not a pipe, whose bytes can be read only once
            scanned = _scan(fd, whole_value)
            if scanned is None:
                os.lseek(fd, 0, os.SEEK_SET)
        if scanned is None:
            with open(fd, "rb", closefd=False) as f:
                return None, f.read()
        after = os.fstat(fd)
        if stamp(after) != stamp(before) or after.st_size != scanned[3]:
            raise FileChanged(path)
        lines = LineFile(path, fd, *scanned[:3], after)
        fd = -1  # the LineFile's now
        return lines, None
    finally:
        if fd != -1:
            os.close(fd)


def stamp(st: os.stat_result) -> tuple[int, int]:
    """What tells that a file changed: its size and modification time."""
    return st.st_size, st.st_mtime_ns


def _scan(fd: int, whole_value) -> tuple[array, array, list | None, int] | None:
    """(offsets, lengths, line numbers or None, bytes read) of the non-blank lines, or None
    when the file is not to be read line by line (see the module's docstring)."""
    offsets, lengths = array("q"), array("q")
    blanks = []  # numbers of blank lines before the last: rare, and then each line's number is kept
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = False  # the decoder holds the start of a character the chunk's end cut
    buf = bytearray()
    base = 0  # the file offset of buf[0]
    line = 1
    total = 0
    first = True  # whether the first line is a whole value is not known yet
    if os.pread(fd, len(BOM), 0) == BOM:
        base = total = os.lseek(fd, len(BOM), os.SEEK_SET)
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if pending or not chunk.isascii():
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return None  # the reader words it, with its line and column
            pending = bool(decoder.getstate()[0])
        scanned = len(buf)
        buf += chunk
        start = 0
        nl = buf.find(b"\n", scanned)
        while nl != -1:
            # A receipt's line starts with its `{`: anything else is looked at more closely.
            if nl > start and (buf[start] == _BRACE or _NOT_SPACE.search(buf, start, nl)):
                offsets.append(base + start)
                lengths.append(nl - start)
            else:
                blanks.append(line)
            line += 1
            start = nl + 1
            nl = buf.find(b"\n", start)
        if first:
            verdict = _first_line(buf, offsets, lengths, base, whole_value)
            if verdict is False:
                return None
            first = verdict is None
        if start:
            # `"closing"` never spans a newline: each whole line is searched once, here.
            if buf.find(b'"closing"', 0, start) != -1:
                return None  # closings are taken out item by item: the whole file is read
            del buf[:start]
            base += start
    if pending:
        return None  # the file ends inside a character
    if buf and _NOT_SPACE.search(buf):  # the last line, without a newline
        if first or buf.find(b'"closing"') != -1:
            return None  # the only line (one document), or a closing
        offsets.append(base)
        lengths.append(len(buf))
    if first or len(offsets) < 2:
        return None  # one value (or none): the reader reads it as a document
    numbers = None
    if blanks:
        numbers = []
        skip = set(blanks)
        n = 0
        while len(numbers) < len(offsets):
            n += 1
            if n not in skip:
                numbers.append(n)
    return offsets, lengths, numbers, total


def _first_line(buf: bytearray, offsets: array, lengths: array, base: int, whole_value) -> bool | None:
    """Whether the file is JSON Lines as far as its first line tells: True, False, or None
    (not known yet: no line has been read whole)."""
    m = _NOT_SPACE.search(buf)
    if m is None:
        return None
    if buf[m.start()] != _BRACE:
        return False  # an array, or what is no JSON: a document, read whole
    if not offsets:
        # The first line is not whole yet: a one-line document can be long.
        return False if len(buf) > _FIRST_LINE_MAX else None
    return bool(whole_value(bytes(buf[m.start():offsets[0] - base + lengths[0]])))


class LineFile:
    """The non-blank lines of a JSON Lines file, as bytes without their newline (a `\\r` kept),
    each read again from the file when asked for: a sequence, like the list it stands in for.

    A line replaced (`lines[i] = stub`) is kept in memory; one let go of (`lines[i] = None`)
    costs a byte. `close()` (or the LineFile's end) closes the file.
    """

    __slots__ = ("source", "line_numbers", "_fd", "_offsets", "_lengths", "_stamp", "_last", "_marks", "_replaced",
                 "_block", "_block_start", "_block_end", "_close", "__weakref__")

    def __init__(self, source: str, fd: int, offsets: array, lengths: array, line_numbers: list | None,
                 st: os.stat_result):
        self.source = source
        self.line_numbers = line_numbers
        self._fd = fd
        self._offsets, self._lengths = offsets, lengths
        self._stamp = stamp(st)
        self._last = len(offsets) - 1
        # Lines replaced: 1 in `_marks` for a value in `_replaced` (a stub), 2 for None (a line let
        # go of, as the ledger does once it has hashed it): a byte each, not a dict entry.
        self._marks: bytearray | None = None
        self._replaced: dict = {}
        self._block, self._block_start, self._block_end = b"", 0, 0
        # Closes the descriptor when the LineFile goes (CPython: as its last reference does), or at exit.
        self._close = weakref.finalize(self, os.close, fd)

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, i):
        if type(i) is not int:
            if isinstance(i, slice):
                return [self[j] for j in range(*i.indices(len(self._offsets)))]
            i = i.__index__()
        offset = self._offsets[i]  # IndexError past the end, as a list
        if i < 0:
            i += self._last + 1
        if self._marks is not None and self._marks[i]:
            return self._replaced[i] if self._marks[i] == 1 else None
        end = offset + self._lengths[i]
        start = self._block_start
        if start <= offset and end <= self._block_end:
            line = self._block[offset - start:end - start]
            if i == self._last:
                self._check()
            return line
        return self._read(offset, end)

    def _read(self, offset: int, end: int) -> bytes:
        # Just after the lines read last, a block of lines is read at once; elsewhere (read
        # out of order) only the line, which then counts as the lines read last.
        size = end - offset
        if self._block_start <= offset <= self._block_end + BLOCK:
            size = max(size, BLOCK)
        data = os.pread(self._fd, size, offset)
        if len(data) < end - offset:
            raise FileChanged(self.source)
        self._check()  # after the read: what was read is what was scanned
        self._block, self._block_start, self._block_end = data, offset, offset + len(data)
        return data[:end - offset] if size > end - offset else data

    def _check(self) -> None:
        if stamp(os.fstat(self._fd)) != self._stamp:
            raise FileChanged(self.source)

    def __setitem__(self, i: int, value) -> None:
        if i < 0:
            i += len(self._offsets)
        if not 0 <= i < len(self._offsets):
            raise IndexError("LineFile assignment index out of range")
        if self._marks is None:
            self._marks = bytearray(len(self._offsets))
        if value is None:
            self._marks[i] = 2
            self._replaced.pop(i, None)
        else:
            self._marks[i] = 1
            self._replaced[i] = value

    def __iter__(self):
        for i in range(len(self._offsets)):
            yield self[i]

    def __eq__(self, other) -> bool:
        try:
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        except TypeError:
            return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"<LineFile {self.source!r}: {len(self)} lines{'' if self._close.alive else ', closed'}>"

    @property
    def closed(self) -> bool:
        return not self._close.alive

    def close(self) -> None:
        """Close the file; reading a line afterwards raises (a descriptor number may be reused)."""
        self._fd = -1
        self._block, self._block_start, self._block_end = b"", 0, 0
        self._close()
