"""Commands over every proxy (summaries of a folder, the egress audit and ``check``, ``diff`` of two bundles):
proxy by proxy, on every core, with bounded memory.

`each_proxy` runs ``work(dumps, item)`` for every item (a proxy's index, a pair of indexes) in a pool of forked
processes, one per core (``ENVOYSCOPE_WORKERS`` overrides), and yields the results in the items' order as they
come. Each worker decodes what its item needs (the proxy, and the proxies its traces cross) and lets all of it go
once the item is done, so no process holds more than one item's proxies; the results cross back pickled, so the
work function returns what the command prints (text, slim audits, changes), never the dumps. With one core, one
item, or dumps read at once (a single file, live sources), the same loop runs in this process.

A proxy that cannot be decoded gives its one-line error instead of a result; the command notes it and goes on.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from envoyscope.errors import EnvoyscopeError
from envoyscope.model.dump import ConfigDump
from envoyscope.sources.lazy import LazyDump

Work = Callable[[list[ConfigDump], Any], Any]
_STATE: dict[str, Any] = {}  # what forked workers inherit: the dumps and the work function


@dataclass(frozen=True, slots=True)
class Done:
    """One item's outcome: its result, or why it failed (one line); the notes of the proxies it decoded."""

    item: Any
    result: Any = None
    error: str | None = None
    notes: tuple[str, ...] = ()


def workers(items: int) -> int:
    """How many processes: one per core this process may use, at most one per item."""
    wanted = os.environ.get("ENVOYSCOPE_WORKERS", "")
    cores = int(wanted) if wanted.isdigit() and int(wanted) > 0 else (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return max(1, min(cores, items))


def each_proxy(dumps: list[ConfigDump], work: Work, items: Sequence[Any],
               progress: Callable[[int, int], None] | None = None, *, processes: bool = True) -> Iterator[Done]:
    """``work(dumps, item)`` for every item, results in order (see the module's docstring). ``processes=False`` runs
    them in this process, one at a time: the TUI's worker thread does, as forking a process that runs other
    threads could copy a lock one of them holds."""
    lazy = [d for d in dumps if isinstance(d, LazyDump)]
    for dump in lazy:
        dump.watch(None)  # notes travel with each result instead, once, from whichever process read the proxy
    count = workers(len(items)) if processes and lazy and "fork" in multiprocessing.get_all_start_methods() else 1
    if progress:
        progress(0, len(items))
    if count == 1:
        for done, item in enumerate(items, 1):
            yield _run_one(dumps, work, item)
            if progress:
                progress(done, len(items))
        return
    _STATE.update(dumps=dumps, work=work)
    try:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            for done, result in enumerate(pool.imap(_run, items), 1):
                yield result
                if progress:
                    progress(done, len(items))
    finally:
        _STATE.clear()


def _run(item: Any) -> Done:
    return _run_one(_STATE["dumps"], _STATE["work"], item)


def _run_one(dumps: list[ConfigDump], work: Work, item: Any) -> Done:
    before = {id(d) for d in dumps if d.loaded}
    try:
        result = work(dumps, item)
        error = None
    except EnvoyscopeError as exc:
        result, error = None, str(exc)
    notes: list[str] = []
    for dump in dumps:
        if isinstance(dump, LazyDump) and dump.loaded and id(dump) not in before:
            notes += [f"{dump.source}: {note}" for note in dump.notes]
            dump.unload()  # bounded memory: what this item read goes with it
    return Done(item, result, error, tuple(notes))


def terminal_progress(label: str) -> Callable[[int, int], None] | None:
    """A progress line on stderr (``label 37/200``), redrawn in place, when stderr is a terminal; else None."""
    import sys

    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        line = f"{label} {done}/{total}…" if done < total else ""  # cleared when all are done
        sys.stderr.write(f"\r\x1b[2K{line}")
        sys.stderr.flush()

    return show
