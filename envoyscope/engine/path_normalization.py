"""The HTTP connection manager's path normalization, before routing and before the HTTP filters.

``normalize_path`` (off unless set; Istio sets it on its listeners) canonicalizes the path as RFC 3986 section 5.2.4
removes dot segments: ``/a/./b`` → ``/a/b``, ``/a/x/../b`` → ``/a/b``, never above the root. ``merge_slashes``
then merges repeated slashes. The query string is left as it is. Envoy's canonicalizer also decodes
percent-encoded unreserved characters and turns ``\\`` into ``/``; envoyscope does not follow those, and says so
when the path holds either. Routes, RBAC's ``url_path`` and the upstream request all see the normalized path.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.steps import Step


def remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 on an absolute path."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
            continue
        if segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/" + "/".join(out)


def merge_slashes(path: str) -> str:
    while "//" in path:
        path = path.replace("//", "/")
    return path


def normalize_request_path(hcm: dict[str, Any] | None, path: str, where: str = "") -> tuple[str, Step | None]:
    """The path after the HCM's normalization, and a step when a normalization is configured and the path is
    one it applies to (None otherwise)."""
    hcm = hcm or {}
    normalize, merge = bool(hcm.get("normalize_path")), bool(hcm.get("merge_slashes"))
    if not (normalize or merge) or not path.startswith("/"):
        return path, None
    base, sep, query = path.partition("?")
    new = base
    done = []
    if normalize:
        new = remove_dot_segments(new)
        done.append("normalize_path removes dot segments")
    if merge:
        new = merge_slashes(new)
        done.append("merge_slashes merges repeated slashes")
    if new == base and "%" not in base and "\\" not in base:
        return path, None
    caveat = ("; it would also decode percent-encoded unreserved characters and turn `\\` into `/`, which envoyscope "
              "does not follow" if normalize and ("%" in base or "\\" in base) else "")
    result = new + sep + query
    what = f"`{path}` → `{result}`" if result != path else f"`{path}` unchanged"
    return result, Step("path_normalization", result, f"the HTTP connection manager's {' and '.join(done)}: {what}"
                        f" (routes and filters see it){caveat}", where)
