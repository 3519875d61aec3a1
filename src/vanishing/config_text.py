"""The text of a config -> a raw dict: presets, config files, TOML, ``--set`` overrides.

Every way this fails is a ConfigError whose message names the source and, where there
is one, the key; config.py validates the raw dict that comes out.
"""

from __future__ import annotations

import copy
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Integers are counts and sizes that numpy holds as int64; how large a run may be is the
# memory estimate's call (estimate.py), made against this machine, not a fixed number here.
INT_LIMIT = 2**63
SHOWN = 120  # characters of a value's repr a message shows


class ConfigError(Exception):
    """A config a user wrote wrong: the message names the source, key, value and what is allowed."""


# --- loading -----------------------------------------------------------------

def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("vanishing.presets").iterdir()
                  if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    names = preset_names()
    if name not in names:
        raise ConfigError(f"--preset: unknown preset {name!r}; allowed: {', '.join(names)}")
    return resources.files("vanishing.presets").joinpath(f"{name}.toml").read_text("utf-8")


def read_source(preset: str | None, config: Path | None) -> tuple[str, str]:
    """(source name for messages, TOML text) of a preset or a config file."""
    if config is not None:
        try:
            return str(config), Path(config).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{config}: cannot read the config file ({e.__class__.__name__}: "
                              f"{getattr(e, 'strerror', None) or e})") from None
    name = preset or "default"
    return f"preset {name!r}", preset_text(name)


def parse_toml(source: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise ConfigError(f"{source}: {_long_integer(text)}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{source}: not valid TOML here (arrays or inline tables nested too "
                          "deeply); a config nests them at most three deep") from None


_SENTINEL = 777_777_777_777_777_777  # stands in for the long integer: no config holds it


def _header(line: str) -> list[str] | None:
    """The table a ``[table]`` or ``[[table]]`` line opens, read by tomllib itself; None otherwise."""
    if not line.lstrip().startswith("["):
        return None
    try:
        node: Any = tomllib.loads(line)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return None  # a line inside a multi-line array
    parts = []
    while isinstance(node, (dict, list)) and len(node) == 1:
        if isinstance(node, dict):
            (part, node), = node.items()
            parts.append(part)
        else:
            node = node[0]
    return parts


def _parsed(line: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(line)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return None


def _where(node: Any, key: str) -> str | None:
    """The key of _SENTINEL in a parsed line, spelt as the validator spells keys: a.b[1].c."""
    if isinstance(node, int) and not isinstance(node, bool) and node == _SENTINEL:
        return key
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        found = _where(v, f"{key}[{k}]" if isinstance(node, list) else f"{key}.{k}" if key else str(k))
        if found is not None:
            return found
    return None


def _long_integer(text: str) -> str:
    """Where the integer too long to parse is, as "key 'train.epochs' (line 7) has ..."."""
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300
    table: list[str] = []
    # TOML ends lines at \n only: splitlines() would also break at \x85 or \u2028 inside a string
    for number, line in enumerate(text.split("\n"), start=1):
        header = _header(line)
        if header is not None:
            table = header
        runs = [r for r in re.findall(r"\d[\d_]*", line) if len(r.replace("_", "")) > limit]
        if runs:
            # The line with every such number replaced, parsed: the key down to the list item; a
            # line inside a multi-line array names the key it is assigned to, or its table.
            replaced = re.sub("|".join(map(re.escape, runs)), str(_SENTINEL), line)
            assigned = _parsed(line.partition("=")[0] + f"= {_SENTINEL}") if "=" in line else None
            found = _where(_parsed(replaced) or assigned, "")
            key = ".".join([*table, *([] if found is None else [found])])
            return (f"key {shown(key)} (line {number}) has an integer of {len(runs[0].replace('_', ''))} "
                    f"digits; expected an integer below {INT_LIMIT} (2**63)")
    return f"an integer has more than {limit} digits; expected integers below {INT_LIMIT} (2**63)"


_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def parse_set(item: str) -> tuple[list[str], Any]:
    """``train.epochs=5`` -> (["train", "epochs"], 5). Values are TOML; a bare word is a string."""
    key, sep, value = item.partition("=")
    path = key.strip().split(".")
    if not sep or not all(re.fullmatch(r"[A-Za-z0-9_\-]+", p) for p in path):
        raise ConfigError(f"--set {shown(item)}: expected KEY=VALUE with a dotted key, "
                          "e.g. train.epochs=5 or matrix.main.seeds=[0,1]")
    try:
        return path, tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        if _BARE.match(value.strip()):
            return path, value.strip()
        raise ConfigError(f"--set {shown(item)}: value {shown(value.strip())} is not a TOML value "
                          '(e.g. 5, 0.1, relu, "relu", [0, 1], { name = "sgd" })') from None
    except ValueError:  # more digits than Python converts to an integer
        digits = len(re.sub(r"[^0-9]", "", value))
        raise ConfigError(f"--set {key.strip()}=...: key {key.strip()!r} has an integer of {digits} "
                          f"digits; expected an integer below {INT_LIMIT} (2**63)") from None
    except RecursionError:
        raise ConfigError(f"--set {key.strip()}=...: key {key.strip()!r} has a value nested too "
                          "deeply to parse; a config nests arrays and tables at most three deep") from None


def shown(value: Any) -> str:
    """repr(value), cut to SHOWN characters: a message stays one readable line."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for str(): say how long
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    return _cut(text)


def printable(text: str) -> str:
    """Text as a message shows it: one line (control characters escaped), cut to SHOWN characters."""
    return _cut("".join(c if c.isprintable() else repr(c)[1:-1] for c in text))


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN else f"{text[:SHOWN - 20]}...{text[-12:]} ({len(text)} characters)"


def apply_sets(raw: dict[str, Any], sets: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """raw with the overrides applied, and which dotted keys came from which --set."""
    raw = copy.deepcopy(raw)
    origin: dict[str, str] = {}
    for item in sets:
        path, value = parse_set(item)
        table = raw
        for i, part in enumerate(path[:-1]):
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {shown(item)}: key {'.'.join(path[:i + 1])!r} is not a table")
        table[path[-1]] = value
        origin[".".join(path)] = f"--set {item}"
    return raw, origin
