"""Greedy longest-processing-time: items, costliest first, each to the bin with the least cost
so far. The split of groups into shards (shards.py) and of groups between local workers
(workers.py). The costliest bin ends within one item's cost of the ideal (total / bins)."""

from __future__ import annotations

from collections.abc import Sequence


def least_loaded(costs: Sequence[float], bins: int) -> list[list[int]]:
    """The items' indices in each bin, in the order given (the caller orders them costliest
    first); each item to the bin with the least cost so far, the lower bin on a tie."""
    found: list[list[int]] = [[] for _ in range(bins)]
    load = [0.0] * bins
    for item, cost in enumerate(costs):
        k = min(range(bins), key=lambda i: (load[i], i))
        found[k].append(item)
        load[k] += cost
    return found
