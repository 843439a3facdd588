"""Provider registry: built-ins by name with lazy imports, third parties by entry point.

A third-party package registers ``name = "package.module:ProviderClass"`` in the
``candleflow.providers`` entry-point group. ``get_provider`` also accepts an instance, the
seam tests and notebooks use to inject a configured provider.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any

from candleflow.errors import ConfigError
from candleflow.providers.base import IDataProvider
from candleflow.providers.options import check_options

ENTRY_POINT_GROUP = "candleflow.providers"

BUILTIN: dict[str, str] = {
    "tradingview": "candleflow.providers.tradingview:TradingViewProvider",
    "files": "candleflow.providers.files:FileProvider",
    "ccxt": "candleflow.providers.ccxt:CcxtProvider",
}


def _targets() -> dict[str, str]:
    targets = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    targets.update(BUILTIN)  # a plug-in cannot shadow a built-in name
    return targets


def available_providers() -> list[str]:
    return sorted(_targets())


def provider_class(name: str) -> type[IDataProvider]:
    """The class registered as ``name``; ``ConfigError`` lists the names there are, closest
    first."""
    targets = _targets()
    try:
        target = targets[name]
    except KeyError:
        names = difflib.get_close_matches(str(name), list(targets), n=len(targets), cutoff=0.0)
        expected = ", ".join(names)
        raise ConfigError(f"unknown provider {name!r}; expected one of {expected}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, IDataProvider)):
        raise TypeError(f"provider {name!r} ({target}) is not an IDataProvider subclass")
    return cls


def get_provider(name: str | IDataProvider, **options: Any) -> IDataProvider:
    """A provider by registered name, configured with ``options``; an instance passes through.

    Options are checked against the constructor first (``providers.options``), and a value
    the provider itself refuses becomes a ``ConfigError`` naming the provider: bad settings
    fail at once, in one line, wherever they came from (CLI, watchlist, DAG).
    """
    if isinstance(name, IDataProvider):
        if options:
            raise ValueError("options cannot be applied to a provider instance")
        return name
    cls = provider_class(name)
    check_options(name, cls, options)
    try:
        return cls(**options)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"provider {name}: {exc}") from None
