"""``--redact``: IP addresses and pod names replaced by stable placeholders throughout a report.

The same value always gets the same placeholder within one report (``10.244.0.12`` → ``ip-1`` everywhere), so
the path still reads right. Private keys are never in a report to begin with (see ``model.certs.redact``).
"""

from __future__ import annotations

import re
from typing import Any

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")


class Redactor:
    def __init__(self, pod_names: list[str]) -> None:
        self.table: dict[str, str] = {}
        self.pods = sorted({p for p in pod_names if p}, key=len, reverse=True)

    def _placeholder(self, value: str, kind: str) -> str:
        if value not in self.table:
            count = sum(1 for v in self.table.values() if v.startswith(kind + "-")) + 1
            self.table[value] = f"{kind}-{count}"
        return self.table[value]

    def text(self, value: str) -> str:
        for pod in self.pods:
            if pod in value:
                value = value.replace(pod, self._placeholder(pod, "pod"))
        return _IPV4.sub(lambda m: m.group(0) if m.group(0).startswith("0.0.0.0") else
                         self._placeholder(m.group(0), "ip"), value)

    def apply(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.apply(v) for k, v in value.items()}
        return value
