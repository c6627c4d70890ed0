"""Pause Python's cyclic garbage collector around a bulk stage.

Compiling a large rule file and booking a day both allocate millions of small,
acyclic objects (tokens, words, tuples, Decimals). The cyclic collector would
rescan the survivors again and again — measured here as a third of booking time
and half of compile time — while reference counting already frees everything.
The collector resumes when the stage is done.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
