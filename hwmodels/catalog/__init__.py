"""The hardware catalog: named devices, links and radios from YAML, each with a source.

Built-in entries live in this folder (``devices.yaml``, ``links.yaml``,
``radios.yaml``). Users add YAML files of the same form, passed explicitly or
listed in the ``DDLSIM_CATALOG`` environment variable (paths separated by
``os.pathsep``; a folder means every ``*.yaml``/``*.yml`` in it). Later files
shadow earlier ones by name, so user entries win over built-ins.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from ..device import Device
from ..errors import SpecError, parse_error_text
from ..link import LinkSpec
from ..radio import Radio
from ..record import from_entry

__all__ = ["Catalog", "Record", "KINDS", "ENV_VAR", "BUILTIN_DIR", "load_catalog"]

Record = Union[Device, LinkSpec, Radio]
ENV_VAR = "DDLSIM_CATALOG"
BUILTIN_DIR = Path(__file__).resolve().parent
# kind -> (YAML section, record class)
KINDS: dict[str, tuple[str, type]] = {"device": ("devices", Device), "link": ("links", LinkSpec), "radio": ("radios", Radio)}
_SECTIONS = {section: kind for kind, (section, _) in KINDS.items()}


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        if not files:
            raise SpecError(f"{path}: catalog folder holds no .yaml or .yml file (check --catalog or ${ENV_VAR})")
        return files
    if not path.exists():
        raise SpecError(f"{path}: catalog file not found (check --catalog or ${ENV_VAR})")
    return [path]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {parse_error_text(exc)}") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read catalog file: {exc.strerror}") from None


def _entries_of(path: Path) -> Iterable[tuple[str, Record]]:
    data = _read_yaml(path)
    if data is None or data == {}:   # a file that adds nothing is a mistake (a wrong path, a failed write)
        raise SpecError(f"{path}: empty catalog file; give sections {', '.join(_SECTIONS)} with entries")
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: a catalog file is a mapping with sections {', '.join(_SECTIONS)}")
    for section, items in data.items():
        kind = _SECTIONS.get(section)
        if kind is None:
            raise SpecError(f"{path}: unknown section {section!r}; use one of {', '.join(_SECTIONS)}")
        if not isinstance(items, list):
            raise SpecError(f"{path}: section {section!r} must be a list of entries")
        seen: set[str] = set()
        for index, entry in enumerate(items):
            label = entry.get("name") if isinstance(entry, Mapping) else None
            where = f"{path}: {section}[{index}]" + (f" {label!r}" if label else "")
            if not isinstance(entry, Mapping) or not label:
                raise SpecError(f"{where}: each entry needs a 'name' field")
            if label in seen:
                raise SpecError(f"{where}: name {label!r} is defined twice in this file")
            seen.add(label)
            if not str(entry.get("source") or "").strip():
                raise SpecError(f"{where}: field 'source' is required: cite the datasheet, paper or measurement")
            yield kind, from_entry(KINDS[kind][1], entry, where)


@dataclass
class Catalog:
    """Named hardware records by kind, with the file each came from."""

    records: dict[str, dict[str, Record]] = field(default_factory=lambda: {k: {} for k in KINDS})
    origin: dict[tuple[str, str], Path] = field(default_factory=dict)

    @classmethod
    def load(cls, paths: Iterable[str | os.PathLike[str]] = (), *, use_env: bool = True, builtin: bool = True) -> Catalog:
        """Built-ins, then files in ``$DDLSIM_CATALOG``, then ``paths``; later names shadow earlier."""
        sources: list[Path] = [BUILTIN_DIR] if builtin else []
        if use_env and os.environ.get(ENV_VAR):
            sources += [Path(p) for p in os.environ[ENV_VAR].split(os.pathsep) if p]
        sources += [Path(p) for p in paths]
        catalog = cls()
        for source in sources:
            for path in _yaml_files(source):
                catalog.add_file(path)
        return catalog

    def add_file(self, path: Path) -> None:
        """Add (or shadow) every entry of one YAML file."""
        for kind, record in _entries_of(path):
            self.add(record, path)

    def add(self, record: Record, path: Path | None = None) -> None:
        """Add one record; a record of the same kind and name is replaced."""
        self.records[record.kind][record.name] = record
        if path is not None:
            self.origin[(record.kind, record.name)] = path

    def entries(self, kind: str | None = None) -> list[Record]:
        """All records (of one kind if given), sorted by kind then name."""
        kinds = [self._check_kind(kind)] if kind else list(KINDS)
        return [self.records[k][n] for k in kinds for n in sorted(self.records[k])]

    def get(self, name: str, kind: str | None = None) -> Record:
        """The record called ``name`` (or one of its aliases); suggests close names if unknown."""
        kinds = [self._check_kind(kind)] if kind else list(KINDS)
        if not isinstance(name, str):
            raise SpecError(f"a {kind or 'catalog'} name is text (see `ddlsim hw list`), got {name!r}")
        for k in kinds:
            if name in self.records[k]:
                return self.records[k][name]
        for k in kinds:
            for record in self.records[k].values():
                if name in record.aliases:
                    return record
        candidates = [n for k in kinds for n in self.records[k]]
        candidates += [a for k in kinds for r in self.records[k].values() for a in r.aliases]
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        what = kind or "hardware"
        hint = f"; did you mean {', '.join(close)}?" if close else f"; see `ddlsim hw list{' --kind ' + kind if kind else ''}`"
        raise SpecError(f"unknown {what} {name!r}{hint}")

    def device(self, name: str) -> Device:
        """The compute device called ``name``."""
        return self.get(name, "device")  # type: ignore[return-value]

    def link(self, name: str) -> LinkSpec:
        """The wired link called ``name``."""
        return self.get(name, "link")  # type: ignore[return-value]

    def radio(self, name: str) -> Radio:
        """The radio called ``name``."""
        return self.get(name, "radio")  # type: ignore[return-value]

    @staticmethod
    def _check_kind(kind: str) -> str:
        if kind not in KINDS:
            raise SpecError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        return kind


def load_catalog(paths: Iterable[str | os.PathLike[str]] = ()) -> Catalog:
    """The built-in catalog plus ``$DDLSIM_CATALOG`` and ``paths`` (user entries win)."""
    return Catalog.load(paths)
