"""``istioctl bug-report`` archives as a SOURCE: every proxy's config dump and ``/clusters``, paired per pod.

The layout, from istio's ``tools/bug-report`` (pkg/archive and pkg/common): the archive holds one root folder
(``bug-report/``); under it ``proxies/<namespace>/<pod>/`` holds what the pod's Envoy admin answered, one file per
admin path, named by the path: ``config_dump`` (``config_dump?include_eds`` in later releases), ``clusters`` (the
text form), ``certs``, ``listeners``, ``server_info``, ``memory``, ``runtime``, ``stats/prometheus``, beside the
proxy's log and ``netstat``; ``istio/``, ``cluster/``, ``analyze/`` and logs hold the rest, which envoyscope does
not read. A pod's config dump and ``/clusters`` pair up; a pod folder without a config dump (its admin answers
timed out, or the archive was cut) is left out with a note.

`bug_report_inputs` finds the pods of an unpacked archive (a folder given as a SOURCE, or what
`envoyscope.sources.bundle.unpack` extracted from the ``.tar.gz``, where only these files are written).
"""

from __future__ import annotations

import re
from pathlib import Path

PROXIES = "proxies"
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def admin_file_kind(name: str) -> str | None:
    """``config_dump`` or ``clusters`` for the files of a pod folder envoyscope reads (by the admin path they are
    named after, its query left out), else None."""
    path = name.split("?", 1)[0].removesuffix(".json").removesuffix(".txt")
    return path if path in ("config_dump", "clusters") else None


def proxy_member(parts: list[str]) -> tuple[str, str, str] | None:
    """(namespace, pod, file) when an archive member's path is ``…/proxies/<namespace>/<pod>/<file>``."""
    for index in range(len(parts) - 3, -1, -1):
        if parts[index] == PROXIES and len(parts) == index + 4:
            namespace, pod, name = parts[index + 1], parts[index + 2], parts[index + 3]
            if _K8S_NAME.fullmatch(namespace) and _K8S_NAME.fullmatch(pod):
                return namespace, pod, name
    return None


def pod_folder(parts: list[str]) -> tuple[str, str] | None:
    """(namespace, pod) for any member below ``…/proxies/<namespace>/<pod>/`` (logs, cores too)."""
    for index in range(len(parts) - 3, -1, -1):
        if parts[index] == PROXIES and len(parts) >= index + 4:
            namespace, pod = parts[index + 1], parts[index + 2]
            if _K8S_NAME.fullmatch(namespace) and _K8S_NAME.fullmatch(pod):
                return namespace, pod
    return None


def proxies_folder(folder: Path) -> Path | None:
    """The ``proxies`` folder of an unpacked bug report: in the folder, or in its one root folder (bug-report/)."""
    if (folder / PROXIES).is_dir():
        return folder / PROXIES
    children = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    for child in children:
        if (child / PROXIES).is_dir() and any((child / PROXIES).iterdir()):
            return child / PROXIES
    return None


def bug_report_inputs(folder: Path) -> tuple[list[tuple[str, str]], list[str]] | None:
    """``(proxy key, file)`` for every pod's config dump and ``/clusters`` output, and a note for every pod folder
    left out; None when the folder is not a bug report. The key is ``<pod>.<namespace>``, so the two pair up."""
    proxies = proxies_folder(folder)
    if proxies is None:
        return None
    inputs: list[tuple[str, str]] = []
    notes: list[str] = []
    for namespace_dir in sorted(p for p in proxies.iterdir() if p.is_dir()):
        for pod_dir in sorted(p for p in namespace_dir.iterdir() if p.is_dir()):
            files = {admin_file_kind(p.name): p for p in sorted(pod_dir.iterdir()) if p.is_file()}
            key = f"{pod_dir.name}.{namespace_dir.name}"
            dump = files.get("config_dump")
            if dump is None:
                what = "only /clusters" if "clusters" in files else "no admin answers"
                notes.append(f"{pod_dir}: bug-report pod folder without config_dump ({what}): left out")
                continue
            inputs.append((key, str(dump)))
            if "clusters" in files:
                inputs.append((key, str(files["clusters"])))
    if not inputs and not notes:
        return None
    return inputs, notes
