"""`train --shard K/N`: the split of a config into N parts, checked without training: every group in
exactly one shard, balanced by model-epochs within one group of the ideal, the same split whatever
the order of the cells or the state of the results directory, bad values refused."""

from __future__ import annotations

import random

import fakes
import pytest

from vanishing import cli, config, grouping, results, runner, shards
from vanishing.config import ConfigError
from vanishing.shards import Shard

# Costs by hand: 5 epochs x (depth + 1) / 5 = depth + 1 model-epochs per cell, one cell per group.
BY_HAND = """
[train]
epochs = 5
[matrix.m]
activations = ["relu"]
initializers = ["glorot_uniform"]
depths = [2, 4, 9, 14]
seeds = [0]
"""


def _work(cell) -> float:
    """A cell's model-epochs, as README's benchmark counts them: depth d counts (d+1)/5 of an epoch."""
    return cell.train.epochs * (cell.depth + 1) / 5


def _groups_of(cells) -> dict[str, int]:
    """cell_id -> its group (grouping.py; what a group is, is tested in test_grouping.py)."""
    return {c.cell_id: i for i, g in enumerate(grouping.groups(cells)) for c in g}


@pytest.mark.parametrize("text, expected", [("1/4", Shard(1, 4)), ("4/4", Shard(4, 4)),
                                            (" 2 / 3 ", Shard(2, 3)), ("1/1", Shard(1, 1))])
def test_parse(text, expected):
    assert shards.parse(text) == expected
    assert str(expected) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "1/0", "0/0", "-1/3", "1/3/4", "2", "", "1.0/3"])
def test_parse_refuses(text):
    with pytest.raises(ConfigError, match=r"^--shard: value .* is not allowed.*1 <= K <= N"):
        shards.parse(text)


@pytest.mark.parametrize("value", ["0/3", "4/3", "a/b", "1/0"])
def test_cli_refuses_a_bad_shard_before_anything(value, tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["train", "--preset", "smoke", "--results", str(out), "--shard", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: --shard: value ") and repr(value) in err and "1 <= K <= N" in err
    assert not out.exists()


def test_report_refuses_shard(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["report", "--preset", "smoke", "--results", str(out), "--shard", "1/2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: --shard: value '1/2' is not allowed with `vanishing report`")
    assert "vanishing merge" in err and not out.exists()


def test_greedy_split_by_hand():
    """Groups of 15, 10, 5 and 3 model-epochs into 2: 15 -> 1, 10 -> 2, 5 -> 2 (10 < 15), then 3 to
    the tie 15 = 15 -> the lower K, 1."""
    cells = config.load_text("by hand", BY_HAND).cells()
    depths = {k: [c.depth for c in shards.select(cells, Shard(k, 2))] for k in (1, 2)}
    assert depths == {1: [2, 14], 2: [4, 9]}  # each in the config's order
    assert [c.depth for c in shards.select(cells, Shard(1, 1))] == [2, 4, 9, 14]
    five = [[c.depth for c in shards.select(cells, Shard(k, 5))] for k in range(1, 6)]
    assert five == [[14], [9], [4], [2], []]  # more shards than groups: the last is empty


@pytest.mark.parametrize("preset", ["smoke", "default", "full"])
def test_every_group_in_one_shard_and_balanced(preset):
    cells = config.load(preset).cells()
    group_of = _groups_of(cells)
    work: dict[int, float] = {}
    for c in cells:
        work[group_of[c.cell_id]] = work.get(group_of[c.cell_id], 0.0) + _work(c)
    total, largest = sum(work.values()), max(work.values())
    for count in range(1, 9):
        parts = [shards.select(cells, Shard(k, count)) for k in range(1, count + 1)]
        ids = [c.cell_id for part in parts for c in part]
        assert sorted(ids) == sorted(c.cell_id for c in cells)  # every cell, once
        owner = {}
        for k, part in enumerate(parts):
            ids_here = {c.cell_id for c in part}
            assert part == [c for c in cells if c.cell_id in ids_here]  # in the config's order
            for c in part:
                assert owner.setdefault(group_of[c.cell_id], k) == k  # a group never split
        loads = [sum(_work(c) for c in part) for part in parts]
        assert max(loads) <= total / count + largest + 1e-9, (count, loads)
        if count == 2 and preset == "default":  # here far better than the guarantee
            assert max(loads) / (total / count) < 1.05


def test_the_split_does_not_depend_on_the_cells_order():
    cells = config.load("default").cells()
    shuffled = list(cells)
    random.Random(0).shuffle(shuffled)
    for k in range(1, 5):
        a = {c.cell_id for c in shards.select(cells, Shard(k, 4))}
        assert a == {c.cell_id for c in shards.select(shuffled, Shard(k, 4))}
        assert a == {c.cell_id for c in shards.select(cells, Shard(k, 4))}


def test_plan_splits_the_config_not_what_is_on_disk(tmp_path):
    """A shard's cells stay the same whatever the directory holds (its own cells, another shard's):
    those on disk are only skipped."""
    experiment = config.load("smoke")
    cells = experiment.cells()
    mine = shards.select(cells, Shard(2, 3))
    empty = runner.plan(experiment, tmp_path / "empty", shard=Shard(2, 3))
    assert list(empty.cells) == mine and not empty.done
    assert sorted(c for g in empty.groups for c in [x.cell_id for x in g]) == sorted(c.cell_id for c in mine)
    full = tmp_path / "full"
    theirs = shards.select(cells, Shard(1, 3))
    for c in [mine[0], *theirs]:  # only what plan reads: the settings a cell file carries, its arrays' shapes
        results.write_cell(full, runner.cell_info(c), fakes.matrix_cell_arrays(c.depth, c.width))
    p = runner.plan(experiment, full, shard=Shard(2, 3))
    assert p.cells == empty.cells and p.done == {mine[0].cell_id}
    assert not {c.cell_id for g in p.groups for c in g} & {c.cell_id for c in theirs}
    assert runner.plan(experiment, full).done == {c.cell_id for c in [mine[0], *theirs]}
