"""Which cells train as one stacked model (grouping.py), checked without training."""

from __future__ import annotations

import dataclasses

from vanishing import config, experiment, grouping
from vanishing.experiment import SHARED_PROGRAM_WEIGHTS
from vanishing.grouping import MAX_STACK

ALL = sorted(["linear", "sigmoid", "tanh", "softsign", "relu", "leaky_relu", "elu", "selu", "gelu", "swish"])


def _summary(groups) -> list[tuple[int, tuple[str, ...], int]]:
    return [(g[0].depth, tuple(dict.fromkeys(c.activation for c in g)), len(g)) for g in groups]


def test_the_default_preset_compiles_seven_programs():
    cells = config.load("default").cells()
    groups = grouping.groups(cells)
    # depth 4: 300 cells, so three groups of activations in name order, the first one more;
    # the depth sweep: 27 cells a depth, one group each
    assert sorted(_summary(groups)) == sorted([
        (4, tuple(ALL[:4]), 120), (4, tuple(ALL[4:7]), 90), (4, tuple(ALL[7:]), 90),
        *[(d, ("relu", "sigmoid", "tanh"), 27) for d in (2, 8, 16, 32)]])
    ids = [c.cell_id for g in groups for c in g]
    assert sorted(ids) == sorted(c.cell_id for c in cells)  # every cell, once
    for g in groups:
        assert len({c.group_key for c in g}) == 1
        runs = [c.activation for c in g]
        assert runs == sorted(runs, key=runs.index)  # each activation's cells side by side


def test_large_networks_keep_one_group_per_activation():
    cells = config.load("default").cells()
    wide = [dataclasses.replace(c, width=64) for c in cells if c.depth == 4]
    assert wide[0].hidden_weights == 64 * 64 * 3 + 64 > SHARED_PROGRAM_WEIGHTS
    assert sorted(_summary(grouping.groups(wide))) == sorted((4, (a,), 30) for a in ALL)
    at_the_limit = [dataclasses.replace(c, width=32) for c in cells if c.depth == 4]
    assert at_the_limit[0].hidden_weights == 32 * 32 * 3 + 32 <= SHARED_PROGRAM_WEIGHTS
    assert len(grouping.groups(at_the_limit)) == 3


def test_an_activation_is_never_split_even_past_the_limit():
    cells = [c for c in config.load("default").cells() if c.depth == 4 and c.activation == "tanh"]
    many = [dataclasses.replace(c, seed=s) for c in cells for s in range(4)]  # 120 of one activation
    assert len(many) > MAX_STACK and _summary(grouping.groups(many)) == [(4, ("tanh",), 120)]


def test_a_factory_cell_is_its_own_group(tmp_path):
    spec = experiment.FactorySpec("m.py:f", str(tmp_path / "m.py"), "0" * 64)
    cells = [dataclasses.replace(c, factory=spec) for c in config.load("smoke").cells()]
    assert [len(g) for g in grouping.groups(cells)] == [1] * len(cells)
