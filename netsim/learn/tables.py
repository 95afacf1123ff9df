"""Users' own tabular data: a CSV, Parquet or NPZ file of features and a label, optionally
with a client id per row (a natural partition: the PIUs' own data).

CSV and Parquet: one row per sample; the ``label`` column is the target, the ``client_id``
column (if named) the client a row belongs to, every other column a numeric feature. NPZ:
arrays ``x`` (N, F), ``y`` (N,) and optionally ``client_id`` (N,). Features are standardised
per column (zero mean, unit variance over the file; a constant column stays 0), so a model
sees them as one-channel 1 x F "images". Classification labels (numbers or text) map to
0 .. K-1 in sorted order; regression targets are floats (the loss is the mean squared error).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

TABLE_SUFFIXES = (".csv", ".parquet", ".npz")


class TableError(ValueError):
    """A data file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Table:
    """A data file in memory: x float32 (N, 1, 1, F) standardised, y int64 (classification)
    or float32 (regression) (N,), groups int64 (N,) client indices 0 .. G-1 in sorted order
    of the file's ids (None without a client column), classes: the label values in index
    order (classification), features: the feature names."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None
    classes: tuple[object, ...]
    features: tuple[str, ...]


def read_table(path: Path, label: str, client_id: str | None, task: str) -> Table:
    """Read ``path`` (see the module docstring); raises :class:`TableError`."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"'{path}' does not exist")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise TableError(f"'{path}' is not a {', '.join(TABLE_SUFFIXES)} file")
    return _read(str(path.resolve()), path.stat().st_mtime_ns, label, client_id, task)


@lru_cache(maxsize=4)
def _read(path: str, _mtime_ns: int, label: str, client_id: str | None, task: str) -> Table:
    frame = _frame(Path(path), label, client_id)
    if len(frame) == 0:
        raise TableError(f"'{path}' has no rows")
    for column in (label, client_id):
        if column is not None and column not in frame.columns:
            raise TableError(
                f"'{path}' has no column {column!r}; columns: {', '.join(map(str, frame.columns))}"
            )
    features = [c for c in frame.columns if c not in (label, client_id)]
    if not features:
        raise TableError(f"'{path}' has no feature columns besides {label!r}")
    bad = [str(c) for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise TableError(f"'{path}': feature columns must be numeric; not: {', '.join(bad)}")
    x = frame[features].to_numpy(dtype=np.float64)
    missing = np.argwhere(~np.isfinite(x))
    if len(missing):
        row, col = missing[0]
        raise TableError(
            f"'{path}': row {row} has no finite value in column {features[col]!r} "
            f"({len(missing)} such cells)"
        )
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    y, classes = _target(Path(path), frame[label], task)
    groups = None
    if client_id is not None:
        ids = frame[client_id]
        if ids.isna().any():
            raise TableError(f"'{path}': column {client_id!r} has empty client ids")
        groups = pd.factorize(ids, sort=True)[0].astype(np.int64)
    x32 = x.astype(np.float32).reshape(len(frame), 1, 1, len(features))
    return Table(x32, y, groups, classes, tuple(map(str, features)))


def _frame(path: Path, label: str, client_id: str | None) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz or "y" not in npz:
                raise TableError(f"'{path}' needs arrays 'x' (N, F) and 'y' (N,); has {list(npz)}")
            x, y = npz["x"], npz["y"]
            if x.ndim != 2 or y.shape != (len(x),):
                raise TableError(f"'{path}': x must be (N, F) and y (N,); got {x.shape}, {y.shape}")
            frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
            frame[label] = y
            if "client_id" in npz and client_id is not None:
                frame[client_id] = npz["client_id"]
            return frame
    except TableError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser's complaint, named with the file
        raise TableError(f"'{path}' cannot be read: {exc}") from None


def _target(path: Path, column: pd.Series, task: str) -> tuple[np.ndarray, tuple[object, ...]]:
    if column.isna().any():
        raise TableError(f"'{path}': label column {column.name!r} has empty values")
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(column):
            raise TableError(f"'{path}': regression needs a numeric label {column.name!r}")
        return column.to_numpy(dtype=np.float32), ()
    codes, classes = pd.factorize(column, sort=True)
    if len(classes) < 2:
        raise TableError(f"'{path}': classification needs two or more labels in {column.name!r}")
    return codes.astype(np.int64), tuple(classes.tolist())
