"""The warehouse tables agree with the one column spec (``candleflow.domain.BARS``/``TICKS``):
what is staged and COPYed with the spec's types lands in columns of exactly those types."""

from __future__ import annotations

import pytest

from candleflow import domain


@pytest.mark.parametrize(("table", "spec"), [("bars", domain.BARS), ("ticks", domain.TICKS)])
def test_warehouse_columns_have_the_spec_types_and_nullability(db, table, spec):
    with db.cursor() as cur:
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL), NOT a.attnotnull"
            " FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0"
            " AND NOT a.attisdropped",
            (f"candleflow.{table}",),
        )
        found = {name: (pg_type, nullable) for name, pg_type, nullable in cur.fetchall()}
    aliases = {
        "timestamptz": "timestamp with time zone",
        "float8": "double precision",
        "int8": "bigint",
        "bool": "boolean",
        "text": "text",
    }
    for column in spec:
        assert found[column.name] == (aliases[column.pg_type], column.nullable), column.name
