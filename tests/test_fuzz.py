"""Fuzzed input (issue 10): configs and --set items that Hypothesis writes are either valid or refused
with ONE message naming the key; never a traceback, never exit 1. Validation only: nothing trains.

The configs start valid (every table and key a config may hold, with values drawn from what each
takes) and then take one mutation at a known key: a random value of any type (huge integers, NaN,
unicode, nested arrays, empty tables), an unknown key, a key deleted, a table emptied. The message
must name that key, or a key below it; a changed ``name`` may instead name its table (a dataset
or initializer of another name takes other arguments). Derandomized: CI sees the same examples.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vanishing import cli, config, estimate, zoo

FUZZ = settings(max_examples=500, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- TOML text ------------------------------------------------------------------------------

class Raw(str):
    """A token written into the TOML as it is: an integer too long for Python to print."""


LONG_INTEGER = Raw("1" + "0" * 5001)


def toml_value(v: Any) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # inf, -inf, nan, 1e+300: all TOML
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + " }"


def toml_string(s: str) -> str:
    # JSON's escapes are TOML's; DEL must be escaped in TOML too. Lone surrogates stay raw: tomllib
    # takes them, and the validator must refuse them (they cannot be written as UTF-8).
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_document(config_dict: dict[str, Any]) -> str:
    """Top-level values first, then one [table] per table, nested tables as [a."b"] sections."""
    lines: list[str] = []

    def table(path: list[str], d: dict[str, Any]) -> None:
        if path:
            lines.append("[" + ".".join(toml_string(p) for p in path) + "]")
        lines.extend(f"{toml_string(k)} = {toml_value(v)}" for k, v in d.items() if not isinstance(v, dict))
        for k, v in d.items():
            if isinstance(v, dict):
                table([*path, k], v)

    table([], config_dict)
    return "\n".join(lines) + "\n"


# --- strategies -----------------------------------------------------------------------------

WORDS = [*zoo.ACTIVATIONS, *zoo.INITIALIZERS, *zoo.OPTIMIZERS, *zoo.DATASETS, "fan_in", "uniform", "",
         "name", "learning_rate"]
SPECIAL_NUMBERS = [0, 1, -1, 2, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**400,
                   -(10**400), LONG_INTEGER, 3.4028234663852886e38, 3.5e38, 1e-320, -0.0, 1e308]
keys = st.one_of(st.text(max_size=8), st.sampled_from(WORDS))
scalars = st.one_of(
    st.integers(), st.sampled_from(SPECIAL_NUMBERS), st.just(LONG_INTEGER), st.floats(), st.booleans(),
    st.text(max_size=12), st.sampled_from(WORDS), st.sampled_from(["\ud800", "x\udcffy"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)),
                      max_leaves=6)


def argument(kind: str, choices: tuple[str, ...] | None):
    return {zoo.NUMBER: st.floats(-10, 10), zoo.POSITIVE: st.floats(0.001, 10),
            zoo.NON_NEGATIVE: st.floats(0, 0.999), zoo.UNIT: st.floats(0, 1), zoo.BOOL: st.booleans(),
            zoo.CHOICE: st.sampled_from(choices or ("",))}[kind]


def spec(table: dict[str, dict[str, str]]):
    """A name, or a table { name = ..., some of its arguments }."""
    def with_args(name: str):
        args = table[name]
        optional = {a: argument(k, zoo.ARG_CHOICES.get((name, a))) for a, k in args.items()}
        return st.fixed_dictionaries({"name": st.just(name)}, optional=optional)

    return st.one_of(st.sampled_from(list(table)), st.sampled_from(list(table)).flatmap(with_args))


def dataset():
    def args(name: str):
        optional = {}
        if name in ("circles", "moons"):
            optional = {"n_samples": st.integers(2, 3000), "noise": st.floats(0, 1),
                        "seed": st.integers(0, 2**32 - 1)}
        if name == "circles":
            optional["factor"] = st.floats(0, 0.99)
        return st.fixed_dictionaries({"name": st.just(name)}, optional=optional)

    return st.sampled_from(["circles", "moons", "breast_cancer", "digits"]).flatmap(args)


def matrix():
    def with_learning_rate(s):  # an optimizer axis entry may carry its own learning rate
        table = {"name": s} if isinstance(s, str) else s
        return st.one_of(st.just(s), st.floats(1e-4, 1).map(lambda lr: {**table, "learning_rate": lr}))

    optimizer_with_lr = spec(zoo.OPTIMIZERS).flatmap(with_learning_rate)
    return st.fixed_dictionaries(
        {"activations": st.lists(st.sampled_from(zoo.ACTIVATIONS), min_size=1, max_size=3),
         "initializers": st.lists(spec(zoo.INITIALIZERS), min_size=1, max_size=3)},
        optional={"depths": st.lists(st.integers(2, 6), min_size=1, max_size=2),
                  "seeds": st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=2),
                  "optimizers": st.lists(optimizer_with_lr, min_size=1, max_size=2),
                  "data": dataset()})


valid_configs = st.fixed_dictionaries(
    {"matrix": st.dictionaries(st.text(max_size=6).filter(lambda s: not re.search(r"[\ud800-\udfff]", s)),
                               matrix(), min_size=1, max_size=2)},
    optional={"title": st.text(max_size=20).filter(lambda s: not re.search(r"[\ud800-\udfff]", s)),
              "description": st.text(max_size=20).filter(lambda s: not re.search(r"[\ud800-\udfff]", s)),
              "data": dataset(),
              "model": st.fixed_dictionaries({}, optional={"width": st.integers(1, 64)}),
              "train": st.fixed_dictionaries({}, optional={
                  "epochs": st.integers(1, 200), "batch_size": st.integers(1, 4000),
                  "optimizer": spec(zoo.OPTIMIZERS), "learning_rate": st.floats(1e-5, 1)})})


def places(node: Any, key: str = "") -> list[tuple[str, Any]]:
    """Every (dotted key as messages spell it, value) in a config, tables and list items too."""
    found = [(key, node)] if key else []
    if isinstance(node, dict):
        for k, v in node.items():
            found += places(v, f"{key}.{k}" if key else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += places(v, f"{key}[{i}]")
    return found


def parent_of(config_dict: dict[str, Any], key: str) -> tuple[Any, Any]:
    """(container, its index or key) holding the value at ``key``."""
    for k, v in places(config_dict):
        if isinstance(v, dict):
            for child in v:
                if f"{k}.{child}" == key:
                    return v, child
        if isinstance(v, list):
            for i in range(len(v)):
                if f"{k}[{i}]" == key:
                    return v, i
    return config_dict, key  # top level


@st.composite
def mutated_configs(draw) -> tuple[dict[str, Any], str | None]:
    """A valid config with one mutation, and the key it was made at (None: left valid)."""
    c = draw(valid_configs)
    how = draw(st.sampled_from(["none", "value", "value", "value", "argument", "flag", "text", "unknown",
                                "delete", "empty"]))
    if how == "none":
        return c, None
    if how == "text":  # text that is not Unicode where text goes into the manifest and the page
        key = draw(st.sampled_from(["title", "description"]))
        c[key] = draw(st.text(max_size=6)) + draw(st.sampled_from(["\ud800", "\udcff"]))
        return c, key
    if how == "flag":  # a flag Keras takes as a bool (an argument of some optimizers only)
        name = draw(st.sampled_from([n for n, args in zoo.OPTIMIZERS.items() if zoo.BOOL in args.values()]))
        flag = draw(st.sampled_from([a for a, kind in zoo.OPTIMIZERS[name].items() if kind == zoo.BOOL]))
        c.setdefault("train", {})["optimizer"] = {"name": name, flag: draw(values)}
        return c, f"train.optimizer.{flag}"
    if how == "argument":  # an argument the initializer or optimizer takes, of any kind of value
        specs = [(k, v) for k, v in places(c) if SPEC_KEY.search(k)
                 and (v if isinstance(v, str) else v.get("name")) in {**zoo.INITIALIZERS, **zoo.OPTIMIZERS}]
        if specs:
            key, node = draw(st.sampled_from(specs))
            table = zoo.INITIALIZERS if "initializers" in key else zoo.OPTIMIZERS
            node = {"name": node} if isinstance(node, str) else node
            if table.get(node["name"]):
                arg = draw(st.sampled_from(list(table[node["name"]])))
                container, at = parent_of(c, key)
                container[at] = {**node, arg: draw(values)}
                return c, f"{key}.{arg}"
    key, node = draw(st.sampled_from(places(c)))
    container, at = parent_of(c, key)
    if how == "value":
        container[at] = draw(values)
    elif how == "unknown":
        tables = [(k, v) for k, v in [("", c), *places(c)] if isinstance(v, dict)]
        key, table = draw(st.sampled_from(tables))
        new = draw(keys.filter(lambda k: k not in table))
        table[new] = draw(values)
        return c, f"{key}.{new}" if key else new
    elif how == "delete" and isinstance(container, dict):
        del container[at]
        # what was required is missing: the message may name the table that lacks it
        return c, key.rsplit(".", 1)[0] if "." in key else key
    elif how == "empty" and isinstance(node, (dict, list)):
        container[at] = {} if isinstance(node, dict) else []
    else:
        container[at] = draw(values)
    return c, key


SPEC_KEY = re.compile(r"(^train\.optimizer|\.(initializers|optimizers)\[\d+\])$")


def names_the_key(message: str, key: str) -> bool:
    """The message names ``key`` or a key below it (quoted as repr quotes it); a changed name may
    name its table instead; a list item may be named by its list (the memory estimate's keys)."""
    wanted = [key, re.sub(r"\[\d+\]$", "", key)]
    if key.endswith(".name") or key == "name":
        wanted.append(key.rsplit(".", 1)[0] if "." in key else "")
    return any(repr(w)[1:-1] in message for w in wanted if w) or (wanted[-1] == "" and ": " in message)


@contextlib.contextmanager
def inside(directory: Path):
    """The fuzz in ``directory`` (where relative paths land), with Hypothesis' draws fixed.

    Hypothesis also draws constants it finds in the project's modules loaded so far, so which
    tests ran before in the same process changed the examples (and once left a refusal kind
    unreached): the pool of those constants is kept empty here."""
    from hypothesis.internal.conjecture import providers

    empty = providers.Constants()
    with contextlib.ExitStack() as stack:
        if hasattr(providers, "_get_local_constants"):
            stack.enter_context(mock.patch.object(providers, "_get_local_constants", return_value=empty))
            providers.CONSTANTS_CACHE.cache.clear()  # what earlier tests' draws cached
            stack.callback(providers.CONSTANTS_CACHE.cache.clear)
        stack.enter_context(_chdir(directory))
        yield


@contextlib.contextmanager
def _chdir(directory: Path):
    """cwd for relative data paths and factory modules: an empty directory, not the repository."""
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --- the tests ------------------------------------------------------------------------------

# Each kind of refusal, by words of its message: the fuzz must reach every one, or it tests less
# than it seems to.
REFUSALS = {"unknown key": "unknown key", "not finite": "finite number", "integer": "expected an integer",
            "not a boolean": "boolean", "too many digits": "digits", "not a table": "expected a table",
            "surrogates": "surrogates", "empty list": "non-empty list", "not allowed": "allowed:"}


def test_fuzzed_configs_are_valid_or_name_the_key(empty_dir):
    seen: set[str] = set()

    @FUZZ
    @given(mutated_configs())
    def check(case):
        c, key = case
        try:
            config.load_text("fuzz.toml", toml_document(c))
        except config.ConfigError as e:
            message = str(e)
            assert "\n" not in message and message.startswith("fuzz.toml"), message
            assert key is not None, f"a valid config was refused: {message}"
            assert names_the_key(message, key), (key, message)
            seen.update(kind for kind, words in REFUSALS.items() if words in message)

    with inside(empty_dir):
        check()
    assert seen == set(REFUSALS), f"never refused: {set(REFUSALS) - seen}"


SET_KEYS = ["title", "description", "data", "data.name", "data.n_samples", "data.noise", "data.factor",
            "data.seed", "data.path", "data.label", "model", "model.width", "model.factory", "train",
            "train.epochs", "train.batch_size", "train.optimizer", "train.optimizer.name",
            "train.optimizer.momentum", "train.learning_rate", "matrix", "matrix.main",
            "matrix.main.activations", "matrix.main.initializers", "matrix.main.depths",
            "matrix.main.seeds", "matrix.main.optimizers", "matrix.main.data", "matrix.main.data.name",
            "matrix.other.activations", "matrix.main.initializers.stddev", "title.x"]
dotted = st.lists(st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=6),
                  min_size=1, max_size=3).map(".".join)
set_values = st.one_of(values.map(toml_value), st.text(max_size=12), st.sampled_from(WORDS))
set_items = st.one_of(
    st.tuples(st.one_of(st.sampled_from(SET_KEYS), dotted), set_values).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.text(max_size=16),  # no "=", spaces, unicode: not KEY=VALUE at all
)


@FUZZ
@given(st.lists(set_items, min_size=1, max_size=3))
def test_fuzzed_set_items_are_valid_or_name_the_key(empty_dir, sets):
    with inside(empty_dir):
        try:
            config.load("tutorial", sets=sets)
        except config.ConfigError as e:
            message = str(e)
            assert "\n" not in message, message
            set_keys = [item.partition("=")[0].strip() for item in sets]
            assert any(k in message or config.shown(item) in message
                       for k, item in zip(set_keys, sets)), (sets, message)


@settings(FUZZ, max_examples=200)
@given(mutated_configs(), st.lists(set_items, max_size=2))
def test_fuzzed_dry_runs_exit_0_or_2_with_one_line(empty_dir, case, sets):
    """The whole command line, with the memory estimate (against a fixed 8 GB, so every machine
    sees the same exits): exit 0 or 2, never a traceback. 200 examples: the 500 above already
    cover validation, and a command line costs 15 ms."""
    c, key = case
    path, text = empty_dir / "fuzz.toml", toml_document(c)
    # lone surrogates, written as they are: a file that is not UTF-8
    not_utf8 = re.search(r"[\ud800-\udfff]", text) is not None
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    argv = ["train", "--dry-run", "--config", str(path), "--results", str(empty_dir / "results"),
            "--jobs", "2", *(f"--set={s}" for s in sets)]
    out, err = io.StringIO(), io.StringIO()
    with inside(empty_dir), mock.patch.object(estimate, "available_memory", lambda: 8 * 2**30), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    assert code in (0, 2)
    if code == 0:
        assert out.getvalue().startswith("a dry run") and err.getvalue() == ""
    else:
        message = err.getvalue()
        assert message.startswith("vanishing: error: ") and message.count("\n") == 1, message
        if not_utf8:
            assert "cannot read the config file (UnicodeDecodeError" in message, message
        elif not sets and key is not None:
            assert names_the_key(message, key), (key, message)
    assert not (empty_dir / "results").exists()


EXTREMES = """
[data]
n_samples = 40
noise = 3.4e38
[train]
epochs = 1
batch_size = 1000000
learning_rate = 3.4e38
optimizer = { name = "adam", epsilon = 3.4e38, beta_1 = 0.999999, amsgrad = true }
[matrix.main]
activations = ["sigmoid", "exponential"]
initializers = [
    { name = "random_normal", stddev = 3.4e38, mean = -3.4e38 }, { name = "constant", value = 3.4e38 },
    { name = "identity", gain = 3.4e38 }, { name = "random_uniform", minval = 3.4e38, maxval = -3.4e38 },
    { name = "truncated_normal", stddev = 1e-45 },
]
depths = [2]
seeds = [0, 4294967295]
[matrix.sgd]
activations = ["relu"]
initializers = ["zeros"]
seeds = [4294967295]
optimizers = [{ name = "sgd", momentum = 1, nesterov = true, learning_rate = 3.4e38 }]
"""


@pytest.mark.slow
# numpy warns when the noise overflows float32 and when numbers turn inf or NaN: the run goes on,
# as it does outside pytest (which makes warnings errors), and marks those networks diverged
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_edges_of_what_is_valid_train_and_render(tmp_path):
    """Valid means it runs: the largest and smallest values the config takes, trained and rendered
    (the networks diverge, and say so; nothing crashes)."""
    path = tmp_path / "extremes.toml"
    path.write_text(EXTREMES, encoding="utf-8")
    argv = ["report", "--config", str(path), "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"),
            "--jobs", "1"]
    with inside(tmp_path):
        assert cli.main(argv) == 0
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["cells"]) == 2 * 5 * 2 + 1
    assert (tmp_path / "o" / "index.html").is_file()
