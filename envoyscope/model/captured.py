"""When a dump was captured, as far as the dump itself (or the source that read it) can tell.

Certificates are judged at that moment, not only today: a capture from two years ago held certificates that were
valid then and have expired since, and the other way round. The moment is, in this order:

- recorded: the source read the bytes then (an admin URL, a pod, standard input, a capture bundle's manifest);
- else the newest thing the dump holds: the latest ``last_updated`` of its resources, or the latest ``not_before``
  of the certificates in its secrets (a certificate was issued before the dump holding it was taken). The capture
  was no earlier; a file's modification time is not used, since a copy or a checkout resets it.

None when the dump says nothing (a hand-written config): then only today counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from envoyscope.model.certs import data_source_bytes, decode_certificate
from envoyscope.model.dump import ConfigDump

STAMPED_KINDS = ("listener", "cluster", "route_config", "endpoint", "secret")


@dataclass(frozen=True, slots=True)
class Captured:
    at: dt.datetime  # aware, UTC
    recorded: bool  # True: the source read it then; False: the newest moment the dump holds (no earlier)

    @property
    def basis(self) -> str:
        return "when it was read" if self.recorded else "the dump's newest update or certificate; no earlier"

    def words(self) -> str:
        """``2020-05-14 (the dump's newest update or certificate; no earlier)``."""
        return f"{self.at:%Y-%m-%d} ({self.basis})"


def _instant(stamp: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def capture_moment(dump: ConfigDump) -> Captured | None:
    """The moment ``dump`` was captured (see the module's docstring), or None when nothing in it says."""
    if dump.captured_at:
        recorded = _instant(dump.captured_at)
        if recorded is not None:
            return Captured(recorded.astimezone(dt.UTC), True)
    moments = [m for kind in STAMPED_KINDS for r in dump.of_kind(kind) if r.last_updated
               for m in [_instant(r.last_updated)] if m is not None]
    for secret in dump.secrets:
        data = data_source_bytes((secret.raw.get("tls_certificate") or {}).get("certificate_chain"))
        cert = decode_certificate(data) if data else None
        if cert is not None:
            moments.append(cert.not_before)
    return Captured(max(moments).astimezone(dt.UTC), False) if moments else None
