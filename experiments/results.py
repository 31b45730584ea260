"""The results store: one directory per sweep, one file per finished point, one tidy table.

Layout of a sweep directory::

    spec.yaml            the validated spec the sweep ran
    points/<hash>.json   one finished point (written to a temporary file, then renamed: atomic)
    results.parquet      the consolidated table (results.csv on request)
    plots/               the spec's plot recipes
    .lock                held by the sweep writing the directory

A point's hash covers its normalised config, workload, repeat, seed and the package version, so a
rerun skips what is done and an interrupted sweep (Ctrl-C, kill -9) resumes with every point once.
One sweep writes a directory at a time (a second one exits with a SpecError naming the lock), and
a directory belongs to the spec whose name and workload its spec.yaml records: another spec is
refused unless ``fresh`` empties it first. Files get the user's umask.
The table has one row per point and metrics row (a training curve gives several): ``sweep``,
``point``, ``hash``, ``repeat``, ``seed``, ``status``, ``error``, ``wall_s``, the flattened config
(dotted paths), then the metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from hwmodels import SpecError

from .finite import json_ready

__all__ = ["ResultStore", "flatten", "records_table", "read_table", "ID_COLUMNS"]

ID_COLUMNS = ("sweep", "workload", "point", "hash", "repeat", "seed", "status", "error", "wall_s", "row", "last")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists and other non-scalars to JSON text (Parquet-safe)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value, sort_keys=True, default=str)
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def _umask() -> int:
    """The process's file-creation mask (read without changing it where Linux shows it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())   # mkstemp makes 0600; a plain open() would honour the umask
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def records_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The tidy table of point records (see the module doc), sorted by point, repeat and row."""
    rows: list[dict[str, Any]] = []
    for rec in records:
        ident = {"sweep": rec["sweep"], "workload": rec["workload"], "point": rec["point"], "hash": rec["hash"],
                 "repeat": rec["repeat"], "seed": rec["seed"], "status": rec["status"], "error": rec["error"],
                 "wall_s": rec["wall_s"]}
        config = flatten(rec["config"])
        metrics = rec["rows"] or [{}]
        for i, metric in enumerate(metrics):
            flat = {k: v for k, v in flatten(metric).items() if k not in config and k not in ident}
            rows.append({**ident, "row": i, "last": i == len(metrics) - 1, **config, **flat})
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    return table.sort_values(["point", "repeat", "row"], kind="stable").reset_index(drop=True)


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding several types (e.g. ``size`` as "1MiB" and 1e6) become text."""
    out = table.copy()
    for name in out.columns:
        if out[name].dtype == object:
            kinds = {type(v) for v in out[name] if v is not None and v == v}
            if len(kinds) > 1:
                out[name] = [None if v is None else str(v) for v in out[name]]
    return out


def read_table(path: str | Path) -> pd.DataFrame:
    """A results table from a sweep directory, a ``.parquet`` or a ``.csv`` file; SpecError (one
    line naming the file and the fix) when the file is damaged."""
    path = Path(path)
    if path.is_dir():
        if (path / "results.parquet").exists():
            return _read(path / "results.parquet", pd.read_parquet)
        if (path / "points").is_dir():
            return ResultStore(path).table()
        raise SpecError(f"{path}: not a sweep directory (no results.parquet, no points/)")
    if not path.exists():
        raise SpecError(f"{path}: no such file or directory")
    if path.suffix == ".csv":
        return _read(path, pd.read_csv)
    if path.suffix == ".parquet":
        return _read(path, pd.read_parquet)
    raise SpecError(f"{path}: give a sweep directory, a .parquet or a .csv file")


def _read(path: Path, reader: Any) -> pd.DataFrame:
    """``reader(path)``; a damaged file (pyarrow's and pandas' errors are ValueErrors) is a SpecError."""
    try:
        return reader(path)
    except (ValueError, UnicodeDecodeError) as exc:
        fix = "rerun the sweep into its folder to rebuild it" if path.name.startswith("results.") else "check the file"
        first = " ".join(str(exc).split())[:200]
        raise SpecError(f"{path}: not a readable {path.suffix.lstrip('.')} table ({first}); {fix}") from None


class ResultStore:
    """The directory of one sweep. ``open()`` locks it, checks it belongs to the spec and is
    writable before anything runs; ``close()`` (or leaving a ``with`` block) unlocks it."""

    LOCK = ".lock"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.points_dir = self.root / "points"
        self._lock: Any = None

    def open(self, spec_yaml: str, *, fresh: bool = False) -> "ResultStore":
        """Lock the directory, check its owner, create (or, ``fresh``, empty) it and record the
        spec; SpecError if another sweep holds it, it belongs to another spec, or is unwritable."""
        from filelock import FileLock, Timeout  # noqa: PLC0415

        if self.root.exists() and not self.root.is_dir():
            raise SpecError(f"{self.root}: exists and is not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.root / self.LOCK, timeout=0)
            lock.acquire()
        except Timeout:
            raise SpecError(f"{self.root}: another sweep is writing this folder (it holds {self.LOCK}); wait for it "
                            "to finish or give another --out") from None
        except OSError as exc:
            raise SpecError(f"{self.root}: cannot write the results here ({exc.strerror or exc})") from None
        self._lock = lock
        try:
            self._check_owner(spec_yaml, fresh)
            if fresh:
                shutil.rmtree(self.points_dir, ignore_errors=True)
                shutil.rmtree(self.root / "plots", ignore_errors=True)
                for name in ("results.parquet", "results.csv", "spec.yaml"):
                    (self.root / name).unlink(missing_ok=True)
            self.points_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.root / "spec.yaml", spec_yaml)
            for stale in [*self.points_dir.glob(".*.tmp"), *self.root.glob(".*.tmp")]:   # writes cut short by kill -9
                stale.unlink(missing_ok=True)
        except OSError as exc:
            self.close()
            raise SpecError(f"{self.root}: cannot write the results here ({exc.strerror or exc})") from None
        except BaseException:
            self.close()
            raise
        return self

    def _check_owner(self, spec_yaml: str, fresh: bool) -> None:
        """SpecError unless the directory is new, empty, or holds a sweep of the same spec (name and
        workload: an edited or extended spec resumes) or ``fresh`` replaces another spec's sweep."""
        import yaml  # noqa: PLC0415

        spec_file = self.root / "spec.yaml"
        if not spec_file.exists():
            others = [p.name for p in self.root.iterdir() if p.name != self.LOCK]
            if others:
                raise SpecError(f"{self.root}: holds files ({', '.join(sorted(others)[:3])}) but no spec.yaml, so it "
                                "is not a sweep folder; give a new or empty folder with --out")
            return
        if fresh:
            return
        mine = yaml.safe_load(spec_yaml)
        try:
            theirs = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            theirs = None
        ident = ("name", "workload")
        if not isinstance(theirs, dict) or [theirs.get(k) for k in ident] != [mine.get(k) for k in ident]:
            who = (f"sweep {theirs.get('name')!r} (workload {theirs.get('workload')})" if isinstance(theirs, dict)
                   else "an unreadable spec.yaml")
            raise SpecError(f"{self.root}: holds the results of {who}, not of {mine.get('name')!r} "
                            f"(workload {mine.get('workload')}); give another --out, or --fresh to replace them")

    def close(self) -> None:
        """Unlock the directory (idempotent)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done(self) -> set[str]:
        """Hashes of the points finished without error (a diverged run is finished: seeded, it
        would diverge again)."""
        out = set()
        for path in self.points_dir.glob("*.json"):
            try:
                if json.loads(path.read_text(encoding="utf-8"))["status"] in ("ok", "diverged"):
                    out.add(path.stem)
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return out

    def write(self, record: Mapping[str, Any]) -> None:
        """Store one finished point atomically (a rerun of the same hash replaces it)."""
        _atomic_write(self.points_dir / f"{record['hash']}.json",
                      json.dumps(json_ready(record), sort_keys=True, default=str, allow_nan=False))

    def records(self, hashes: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The stored point records (only ``hashes`` if given)."""
        paths = ([self.points_dir / f"{h}.json" for h in hashes] if hashes is not None
                 else sorted(self.points_dir.glob("*.json")))
        return [self._load(p) for p in paths if p.exists()]

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        """One point record; a damaged one (cut short, edited) is a SpecError naming it and the fix."""
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: damaged point record ({exc}); delete it or rerun the sweep, "
                            "which recomputes it") from None
        if not isinstance(record, dict) or not {"hash", "status", "config", "rows"} <= set(record):
            raise SpecError(f"{path}: not a point record (a JSON object with hash, status, config and rows); "
                            "delete it or rerun the sweep, which recomputes it")
        return record

    def table(self, hashes: Iterable[str] | None = None) -> pd.DataFrame:
        """The tidy table of the stored points."""
        return records_table(self.records(hashes))

    def consolidate(self, table: pd.DataFrame, *, csv: bool = False) -> list[Path]:
        """Write ``results.parquet`` (and ``results.csv``) atomically; the paths written."""
        written = []
        target = self.root / "results.parquet"
        tmp = self.root / ".results.parquet.tmp"
        _parquet_safe(table).to_parquet(tmp, index=False)
        os.replace(tmp, target)
        written.append(target)
        if csv:
            _atomic_write(self.root / "results.csv", table.to_csv(index=False))
            written.append(self.root / "results.csv")
        else:   # a csv of an earlier run would disagree with this table
            (self.root / "results.csv").unlink(missing_ok=True)
        return written
