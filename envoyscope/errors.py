"""The one error tree of envoyscope.

    EnvoyscopeError                 every error a user can cause; the CLI prints str(e), exits 2
     ├── InputError                 a file, stdin or bundle we cannot read as what it claims to be
     │    └── DumpFormatError       JSON that is not (or not quite) an Envoy dump; names the JSON path
     ├── SourceError                a live source failed (Envoy admin, Kubernetes)
     │    ├── AdminError            the Envoy admin endpoint refused, timed out or is not Envoy
     │    └── KubeError             kubeconfig, RBAC, port-forward, pod state
     ├── ArgumentError              a flag's (or a TUI form field's) value that is malformed: names the flag
     ├── TraceError                 a trace request that cannot be followed (unknown --from, no proxy)
     └── ReportError                a report that cannot be written

Each error carries a short ``title`` the TUI shows in its notification.
Low-level errors are wrapped at the boundary: ``raise InputError(...) from exc``.
"""

from __future__ import annotations


class EnvoyscopeError(Exception):
    title = "envoyscope error"

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class InputError(EnvoyscopeError):
    title = "Cannot read input"


class DumpFormatError(InputError):
    title = "Not an Envoy dump"

    def __init__(self, message: str, *, source: str | None = None, json_path: str | None = None) -> None:
        self.json_path = json_path
        where = f"at {json_path}: " if json_path else ""
        super().__init__(f"{where}{message}", source=source)


class SourceError(EnvoyscopeError):
    title = "Live source failed"


class AdminError(SourceError):
    title = "Envoy admin failed"


class KubeError(SourceError):
    title = "Kubernetes failed"


class ArgumentError(EnvoyscopeError, ValueError):
    """``--ip 10.1.2: …``: the message starts with the flag and the value given, then what is wrong.

    Also a ValueError, so code that parses a value (``parse_to``) keeps its contract."""

    title = "Invalid input"

    def __init__(self, flag: str, value: str, problem: str) -> None:
        self.flag, self.value, self.problem = flag, value, problem
        super().__init__(f"{flag} {value!r}: {problem}")


class TraceError(EnvoyscopeError):
    title = "Cannot trace"


class ReportError(EnvoyscopeError):
    title = "Cannot write report"
