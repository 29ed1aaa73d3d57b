"""``--report FILE``: write a trace report by the file's extension (.md, .html, .json), all or nothing."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envoyscope.engine.trace import Trace
from envoyscope.errors import ReportError
from envoyscope.model.certs import scrub_private_keys
from envoyscope.model.dump import ConfigDump

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".json": "json"}


def report_format(path: str) -> str:
    """The format for ``path``, or a ReportError before any work is done."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ReportError(f"--report {path}: unknown report type `{Path(path).suffix or '(none)'}`; "
                          "use .md, .html or .json")
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise ReportError(f"--report {path}: the folder {parent} does not exist")
    return fmt


def render_report(trace: Trace, dumps: list[ConfigDump], fmt: str, argv: list[str], *, redact: bool = False,
                  now: dt.datetime | None = None, mtime: Callable[[Path], float] | None = None,
                  compare: dict[str, Any] | None = None) -> str:
    """``compare``: the before / after section (`report.compare_section`) of ``trace --compare``."""
    from envoyscope.report.document import build_document

    now = now or dt.datetime.now(dt.UTC)
    doc = build_document(trace, dumps, list(argv), now, mtime)
    if compare is not None:
        doc["compare"] = compare
    trace_json: dict[str, Any] = trace.to_json()
    # Excerpts are redacted field by field (model.certs.redact); this catches a key in any other string too.
    doc, trace_json = scrub_private_keys(doc), scrub_private_keys(trace_json)
    if redact:
        from envoyscope.report.redact import Redactor

        # Bare pod names: `sleep-7f8d9c6b5d-x2x7k.default` reads `pod-1.default`, the namespace stays.
        redactor = Redactor([d.identity.pod for d in dumps if d.identity.pod])
        doc, trace_json = redactor.apply(doc), redactor.apply(trace_json)
    if fmt == "markdown":
        from envoyscope.report.markdown import render_markdown

        return render_markdown(doc)
    if fmt == "html":
        from envoyscope.report.html import render_html

        return render_html(doc)
    from envoyscope.report.json_report import render_json

    return render_json(doc, trace_json)


def write_report(trace: Trace, dumps: list[ConfigDump], path: str, argv: list[str], *, redact: bool = False,
                 now: dt.datetime | None = None, compare: dict[str, Any] | None = None) -> Path:
    """Render and write atomically (a temporary file renamed into place): never a half-written report."""
    fmt = report_format(path)
    return write_atomically(path, render_report(trace, dumps, fmt, argv, redact=redact, now=now, compare=compare))


def write_atomically(path: str, text: str) -> Path:
    """Write through a temporary file renamed into place, so a failure never leaves half a report."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.resolve().parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"--report {path}: cannot write: {exc.strerror or exc}") from exc
    return target
