"""Third-party providers arrive through the ``candleflow.providers`` entry-point group.

The plug-in here is a real installed distribution as far as ``importlib.metadata`` is
concerned: a ``*.dist-info`` folder with an ``entry_points.txt`` on a temporary
``sys.path`` entry, not a patched ``entry_points``.
"""

from __future__ import annotations

import textwrap

import pytest

from candleflow.providers import available_providers, get_provider
from candleflow.providers.registry import provider_class

PLUGIN = """
from __future__ import annotations

import pandas as pd

from candleflow.providers.base import Capability, IDataProvider


class ConstantProvider(IDataProvider):
    name = "constant"
    capabilities = frozenset({Capability.BARS})

    def __init__(self, *, price: float = 1.0) -> None:
        self.price = price

    def _fetch_bars(self, symbol, tf, start, end):
        ts = pd.date_range(start, end, freq=pd.Timedelta(minutes=tf.minutes), inclusive="left")
        p = self.price
        return pd.DataFrame({"ts": ts, "open": p, "high": p, "low": p, "close": p, "volume": 0.0})


class NotAProvider:
    pass
"""


@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch):
    (tmp_path / "cf_test_plugin.py").write_text(PLUGIN)
    info = tmp_path / "cf_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cf-test-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent("""\
        [candleflow.providers]
        constant = cf_test_plugin:ConstantProvider
        broken = cf_test_plugin:NotAProvider
        tradingview = cf_test_plugin:ConstantProvider
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    import sys

    sys.modules.pop("cf_test_plugin", None)


def test_entry_point_provider_is_listed_and_built_with_options(plugin_on_path):
    assert {"constant", "tradingview", "files"} <= set(available_providers())
    provider = get_provider("constant", price=2.5)
    assert type(provider).__name__ == "ConstantProvider"
    bars = provider.fetch_bars(
        "X:Y", "1h", "2024-01-01T00:00Z", "2024-01-01T05:00Z", now="2024-02-01T00:00Z"
    )
    assert len(bars) == 5 and (bars["close"] == 2.5).all()
    assert str(bars["ts"].dt.tz) == "UTC"


def test_plugin_cannot_shadow_a_builtin(plugin_on_path):
    from candleflow.providers.tradingview import TradingViewProvider

    assert provider_class("tradingview") is TradingViewProvider


def test_entry_point_that_is_not_a_provider_is_rejected(plugin_on_path):
    with pytest.raises(TypeError, match="broken"):
        get_provider("broken")


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="tradingview"):
        get_provider("no-such-provider")


def test_instance_passes_through():
    from candleflow.providers.tradingview import TradingViewProvider

    tv = TradingViewProvider(token="x")
    assert get_provider(tv) is tv
    with pytest.raises(ValueError):
        get_provider(tv, timeout=3)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("tradinview", {}, "unknown provider 'tradinview'; expected one of tradingview, "),
        (
            "tradingview",
            {"max_bar": 5000},
            "unknown option 'max_bar' of provider tradingview; expected one of max_bars, ",
        ),
        (
            "tradingview",
            {"max_bars": "abc"},
            "option max_bars of provider tradingview: 'abc'; expected a whole number or null",
        ),
        ("tradingview", {"max_bars": True}, "option max_bars of provider tradingview: True"),
        ("tradingview", {"paging": "pages"}, "'pages'; expected one of 'range', 'count'"),
        ("tradingview", {"timeout": 0}, "provider tradingview: timeout must be > 0 seconds"),
        ("ccxt", {"urls": "http://x"}, "option urls of provider ccxt: 'http://x'; expected a"),
        ("files", {}, "provider files needs the option files"),
    ],
)
def test_bad_providers_and_options_are_config_errors_naming_them(name, options, message):
    from candleflow.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        get_provider(name, **options)
    assert message in str(raised.value)


def test_options_of_the_right_types_build_the_provider():
    tv = get_provider("tradingview", max_bars=5000, timeout=5, paging="count", url=None)
    assert (tv.max_bars, tv.timeout, tv.paging) == (5000, 5.0, "count")
