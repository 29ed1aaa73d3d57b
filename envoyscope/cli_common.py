"""What every command shares: how SOURCE arguments (and, later, live options) become dumps.

Commands call `add_source_arguments` on their parser and `load_dumps` in their `run`; a new kind of source
(Envoy admin, Kubernetes pod, capture bundle) is added here once and every command gets it.
"""

from __future__ import annotations

import argparse
from typing import Any

from envoyscope.model.dump import ConfigDump


def add_source_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """SOURCE… positional arguments: dump files, folders, bundles, ``-`` for stdin."""
    parser.add_argument("sources", nargs="+" if required else "*", metavar="SOURCE",
                        help="dump files (.json, .json.gz), folders or capture bundles; - for stdin")


def load_dumps(args: argparse.Namespace, progress: Any = None) -> list[ConfigDump]:
    """Every proxy's dump named by the command line, in the order given."""
    from envoyscope.sources.files import load_sources

    return load_sources(list(args.sources))
