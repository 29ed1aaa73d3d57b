"""What changed between two dumps, as Envoy sees it: `diff_dumps`, `diff_proxies`, `pair_proxies`.

`canonical` makes the noise (versions, timestamps, key and set order, spellings, wrappers, defaults) vanish;
the comparers in `resources` and `endpoints` know which lists are ordered for Envoy and pair the rest by name,
address or match; `words` says each change in a sentence.
"""

from envoyscope.engine.diff.canonical import canonical
from envoyscope.engine.diff.changes import KINDS, Change, FieldChange, ProxyDiff, diff_json, proxy_name, touching
from envoyscope.engine.diff.dumps import diff_dumps, diff_proxies, pair_proxies

__all__ = ["KINDS", "Change", "FieldChange", "ProxyDiff", "canonical", "diff_dumps", "diff_json", "diff_proxies",
           "pair_proxies", "proxy_name", "touching"]
