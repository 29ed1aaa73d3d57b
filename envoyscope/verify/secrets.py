"""SDS secrets and certificate files of a replay form: every one a throwaway test certificate.

Istio's ``default`` / ``ROOTCA``, gateways' ``kubernetes://…`` credentials and ``file-cert:…`` names all become
SDS secrets read from files; certificate and key files named by path become inline test PEMs. A certificate keeps
the SANs the dump shows for it, when the dump holds its PEM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envoyscope.verify.envoy import write_json

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
VALIDATION_KEYS = ("validation_context_sds_secret_config",)
PEM_KEYS = ("certificate_chain", "private_key", "trusted_ca")


class Secrets:
    def __init__(self, folder: Path, notes: list[str], known: Any = None) -> None:
        from envoyscope.verify.certs import TestCA

        self.folder = folder
        self.notes = notes
        self.known = known  # name → raw secret of the dump, for SANs
        self.ca: Any = TestCA()
        self.wanted: dict[str, bool] = {}  # secret name → is a validation context

    def source(self, name: str) -> dict[str, Any]:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        return {"path_config_source": {"path": str(self.folder / f"{safe}.json")}, "resource_api_version": "V3"}

    def localize(self, node: Any, parent: str = "") -> Any:
        """Point every SDS reference below ``node`` at a local file and inline every PEM file (in place)."""
        if isinstance(node, dict):
            if "name" in node and "sds_config" in node:
                name = str(node["name"])
                self.wanted[name] = self.wanted.get(name, False) or parent in VALIDATION_KEYS
                node["sds_config"] = self.source(name)
            for key, value in node.items():
                if key in PEM_KEYS and isinstance(value, dict) and ("filename" in value or "inline_bytes" in value
                                                                    or "inline_string" in value):
                    node[key] = {"inline_string": self._pem(key)}
                else:
                    self.localize(value, key)
        elif isinstance(node, list):
            for value in node:
                self.localize(value, parent)
        return node

    def _pem(self, key: str) -> str:
        note = "certificate files and inline certificates replaced by test certificates"
        if note not in self.notes:
            self.notes.append(note)
        if key == "trusted_ca":
            return str(self.ca.ca_pem)
        cert, private = self.ca.leaf()
        return str(cert if key == "certificate_chain" else private)

    def write(self) -> None:
        if not self.wanted:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        from envoyscope.verify.certs import secret_sans

        for name, validation in sorted(self.wanted.items()):
            raw = self.known(name) if self.known else None
            sans = secret_sans(raw) if raw else ()
            secret = self.ca.secret(name, validation or name == "ROOTCA", sans)
            write_json(Path(self.source(name)["path_config_source"]["path"]),
                       {"version_info": "1", "resources": [{"@type": SECRET_TYPE, **secret}]})
        self.notes.append(f"SDS secrets replaced by test certificates: {', '.join(sorted(self.wanted))}")
