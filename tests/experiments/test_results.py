"""The results store: flattening, atomic point files, the tidy table, reading it back."""

import json

import pandas as pd
import pytest

from experiments.results import ResultStore, flatten, read_table, records_table
from hwmodels import SpecError


def record(h, point, status="ok", rows=None, config=None):
    return {"sweep": "s", "workload": "w", "point": point, "hash": h, "repeat": 0, "seed": 1, "status": status,
            "error": None if status == "ok" else "boom", "wall_s": 0.1, "config": config or {"a": point},
            "rows": rows if rows is not None else [{"m": point * 2.0}]}


def test_flatten_dots_and_json():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "l": [1, 2], "n": None}) == {"a.b": 1, "a.c.d": "x", "l": "[1, 2]", "n": None}


def test_table_has_a_row_per_metrics_row_and_marks_the_last():
    table = records_table([record("h2", 1, rows=[{"step": 1, "acc": 0.5}, {"step": 2, "acc": 0.9}]),
                           record("h1", 0), record("h3", 2, status="error", rows=[])])
    assert list(table["point"]) == [0, 1, 1, 2]
    assert list(table["last"]) == [True, False, True, True]
    assert table.loc[table["point"] == 2, "error"].item() == "boom"
    assert {"a", "m", "step", "acc", "hash", "seed", "status"} <= set(table.columns)


def test_metric_named_like_a_config_field_does_not_shadow_it():
    table = records_table([record("h", 0, rows=[{"a": 99, "m": 1}])])
    assert table["a"].item() == 0


def test_store_round_trip_and_parquet_with_mixed_types(tmp_path):
    store = ResultStore(tmp_path / "run").open("name: x\n")
    store.write(record("h1", 0, config={"size": "1MiB"}))
    store.write(record("h2", 1, config={"size": 2048}, status="error", rows=[]))
    assert store.done() == {"h1"}
    assert not list(store.points_dir.glob(".*"))
    table = store.table()
    store.consolidate(table, csv=True)
    back = read_table(tmp_path / "run")
    assert list(back["size"]) == ["1MiB", "2048"] and list(back["status"]) == ["ok", "error"]
    assert len(read_table(tmp_path / "run" / "results.csv")) == 2


def test_unwritable_directory_is_a_spec_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpecError, match="not a directory"):
        ResultStore(blocker).open("")
    with pytest.raises(SpecError, match="cannot write"):
        ResultStore(blocker / "sub").open("")


def test_read_table_errors(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        read_table(tmp_path / "missing")
    with pytest.raises(SpecError, match="not a sweep directory"):
        read_table(tmp_path)
