"""Data providers: one ``IDataProvider`` interface, built-ins loaded lazily by name."""

from __future__ import annotations

from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.registry import available_providers, get_provider

__all__ = ["Capability", "IDataProvider", "available_providers", "get_provider"]
