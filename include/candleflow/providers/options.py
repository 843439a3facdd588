"""A provider's options checked against its constructor before it is built.

Why here and not in each provider: options arrive as text from the command line
(``-o max_bars=5000``), from a watchlist's ``[provider_options]`` and from Airflow connections,
and a misspelt name or a wrong type used to surface as Python's own ``TypeError`` or
``int('abc')`` from deep inside a constructor, a traceback that named neither the option nor
what was expected. The constructor's signature is the one list of options: a name it does not
take is refused with the names it does take (closest first), and a value whose type its
annotation does not allow is refused naming the option and the type.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import types
import typing
from typing import Any

from candleflow.errors import ConfigError

_SIMPLE = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def option_names(cls: type) -> list[str]:
    """The keyword options ``cls``'s constructor takes (an empty list if it takes ``**kw``)."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return []
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.name != "self" and p.kind in keyword]


def check_options(name: str, cls: type, options: typing.Mapping[str, Any]) -> None:
    """``ConfigError`` naming the first option ``cls`` needs and did not get, does not take,
    or whose value's type its annotation does not allow (unannotated ones are not checked)."""
    names = option_names(cls)
    params = inspect.signature(cls.__init__).parameters
    missing = [n for n in names if params[n].default is params[n].empty and n not in options]
    if missing:
        raise ConfigError(f"provider {name} needs the option {missing[0]}")
    if names:
        for key in options:
            if key not in names:
                closest = difflib.get_close_matches(key, names, n=len(names), cutoff=0.0)
                raise ConfigError(
                    f"unknown option {key!r} of provider {name}; expected one of "
                    f"{', '.join(closest)}"
                )
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation naming something not importable here
        hints = {}
    for key, value in options.items():
        expected = _mismatch(hints[key], value) if key in hints else None
        if expected is not None:
            raise ConfigError(f"option {key} of provider {name}: {value!r}; expected {expected}")


def _mismatch(hint: Any, value: Any) -> str | None:
    """None when ``value`` fits ``hint``, else what was expected, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return None
    if origin in (typing.Union, types.UnionType):
        misses = [_mismatch(arg, value) for arg in args]
        return None if None in misses else " or ".join(m for m in misses if m)
    if hint is type(None):
        return None if value is None else "null"
    if origin is typing.Literal:
        return None if value in args else "one of " + ", ".join(repr(a) for a in args)
    if hint in _SIMPLE:
        return None if _fits(hint, value) else _SIMPLE[hint]
    container = origin or hint
    if container in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return None if isinstance(value, collections.abc.Mapping) else "a table of key = value"
    if container in (list, tuple, collections.abc.Sequence):
        return None if isinstance(value, list | tuple) else "a list"
    return None  # a type this check does not know: the provider checks it


def _fits(kind: type, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)
