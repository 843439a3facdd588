"""From what ``candleflow.query`` returns to JSON-ready values, in the API's one format.

The query module answers with DataFrames, dicts or lists depending on the question; the
routes should not care which. Timestamps become ``2024-01-02T14:30:00Z`` strings, NaN and
NaT become ``null``, numpy scalars become Python numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from candleflow.api.params import iso


def jsonable(value: Any) -> Any:  # noqa: C901 - one flat dispatch on the value's type
    """``value`` with every DataFrame, timestamp and NaN turned into plain JSON values."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dt.datetime):
        if value != value:  # NaT compares unequal to itself
            return None
        return iso(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a pandas DataFrame
        return [jsonable(row) for row in value.to_dict(orient="records")]
    if hasattr(value, "to_dicts"):  # a polars DataFrame
        return [jsonable(row) for row in value.to_dicts()]
    if hasattr(value, "_asdict"):  # a NamedTuple row
        return jsonable(value._asdict())
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return jsonable(dataclasses.asdict(value))
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    if value != value:  # pandas NA / NaT of another kind
        return None
    return str(value)


def records(value: Any) -> list[dict[str, Any]]:
    """A list of row dicts, whatever table-like shape the query module returned."""
    converted = jsonable(value)
    if isinstance(converted, dict):
        return [converted]
    return list(converted or [])
