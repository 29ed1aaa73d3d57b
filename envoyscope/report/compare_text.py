"""``trace OLD --compare NEW`` in the terminal: the outcomes, where the traces part, and the change behind it."""

from __future__ import annotations

from envoyscope.engine.compare import Comparison
from envoyscope.engine.diff.words import sentences


def comparison_lines(comparison: Comparison, old: list[str], new: str) -> list[str]:
    a, b = comparison.old.outcome, comparison.new.outcome
    lines = [f"compare {' '.join(old) or 'OLD'} → {new}",
             f"outcome: {a.kind} → {b.kind}" if a.kind != b.kind else f"outcome: {a.kind} on both"]
    parting = comparison.parting
    if parting is None:
        lines.append("the two traces make the same decisions at every step")
        return lines
    hop = parting.new_hop or parting.old_hop
    proxy = hop.proxy if hop is not None else "?"
    lines.append(f"they part at hop {parting.hop} ({proxy}), step {parting.step}:")
    for side, step in (("old", parting.old), ("new", parting.new)):
        if step is None:
            lines.append(f"  {side}  (no such step)")
        else:
            lines.append(f"  {side}  {step.kind.replace('_', ' ')} {step.matched or 'none'}  {step.reason}")
    if parting.explained_by:
        lines.append("explained by:")
        lines += [f"  - {text}" for change in parting.explained_by for text in sentences(change)]
    else:
        lines.append("no configuration change on that proxy explains it (the request or other proxies differ)")
    return lines


def print_comparison(comparison: Comparison, old: list[str], new: str) -> None:
    print("\n".join(comparison_lines(comparison, old, new)) + "\n")
