"""The workflow's own CSV tables read back as written: ids and shards as text, so that an image named
0241, NA or null keeps its name (pandas would read 241 and missing values); only empty cells are missing."""

from __future__ import annotations

import pandas as pd


def read_table(path, **kwargs) -> pd.DataFrame:
    """A per-image or per-object table (``summary.csv``, ``per_image.csv``, ...) with its ids intact
    (``dtype`` in ``kwargs`` replaces the text columns, e.g. ``str`` for all)."""
    kwargs.setdefault("dtype", {"id": str, "shard": str})
    return pd.read_csv(path, keep_default_na=False, na_values=[""], **kwargs)
