"""A memo for the hot path that pays its way, or steps aside.

A bakery sells the same croissant all day: remembering a line, an amount or a VAT
split saves its work thousands of times. A bike shop's day is the opposite: almost
every line is distinct, and a memo only costs (a hash, an insert, memory that grows
until it is cleared, then refills). So a memo here is bounded, and on probation:

- once `limit` keys are in, it keeps what it learnt first and adds nothing more (the
  values a day repeats show up early; clearing the table would throw them away);
- when it has taken `probation` keys and fewer of its lookups were hits than pay
  for the misses (`hits`, the share a lookup must hit), it empties itself and turns
  off (`on` is False): callers then stop looking.

Callers keep the lookup inline (`memo.table.get(key)`, after `if memo.on`) and count
their lookups in bulk (`memo.lookups += n`, once per receipt rather than once per
line); `add` is called on a miss only, where the work it saves was just done.
"""

from __future__ import annotations


class Memo:
    __slots__ = ("table", "limit", "probation", "hits", "lookups", "on")

    def __init__(self, limit: int, probation: int = 4096, hits: float = 0.5):
        self.table: dict = {}
        self.limit = limit
        self.probation = min(probation, limit)
        self.hits = hits
        self.lookups = 0
        self.on = True

    def add(self, key, value) -> None:
        table = self.table
        size = len(table)
        if size >= self.limit:
            return
        table[key] = value
        if size + 1 == self.probation and self.lookups - self.probation < self.hits * self.lookups:
            # Too few hits over its first `probation` keys (each a miss): not worth a lookup.
            self.table = {}
            self.on = False

    def retry(self) -> None:
        """On probation again, if it had turned off: a new batch may repeat itself where the last did not."""
        if not self.on:
            self.table = {}
            self.lookups = 0
            self.on = True
