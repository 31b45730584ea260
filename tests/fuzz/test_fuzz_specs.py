"""Fuzzing the spec-driven commands (train, fl, infer, restructure, netsim, sweep of collective and compress points): random
keys, types, values and nesting mutate a small valid spec; each run must exit 0 with strictly
valid, finite JSON or exit 2 with one line on stderr, no traceback and no file left behind. In
process (typer's CliRunner); runs that pass validation are kept cheap (one step, tiny tensors).
``DDLSIM_FUZZ_EXAMPLES`` sets the examples per command (more with HYPOTHESIS_PROFILE=explore)."""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from experiments.cli import app

runner = CliRunner()

# values of every YAML type, absurd and ordinary, nested
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([-1, 0, 1, 2, 3, 7, 10**12, 2**63]),
    st.sampled_from([0.0, -1.5, 0.5, 1e300, math.nan, math.inf, -math.inf]),
    st.sampled_from(["", "x", "1MiB", "10Gbps", "5us", "-1GB", "nan", "h0", "ring", "none", "qsgd", "switch",
                     "!!python/object:os.system", "../../etc"]),
    st.text(max_size=6),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) |
                      st.dictionaries(st.text(max_size=5) | st.sampled_from(["name", "kind", "id"]), inner,
                                      max_size=3), max_leaves=6)

_EXAMPLES = int(os.environ.get("DDLSIM_FUZZ_EXAMPLES", "60"))
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
FUZZ = settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=_HEALTH)      # runs that may train
FUZZ_CHEAP = settings(max_examples=4 * _EXAMPLES, deadline=None, suppress_health_check=_HEALTH)   # milliseconds each


@st.composite
def mutated(draw: Any, base: dict[str, Any], keys: list[str], pinned: dict[str, Any]) -> Any:
    """``base`` with 1-3 random edits (a known key set to any value, deleted, or an unknown key
    added, possibly nested one level), ``pinned`` keys put back (they bound the run's cost); now
    and then the whole document is a random value instead."""
    if draw(st.integers(0, 19)) == 0:
        return draw(VALUES)
    spec = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "set", "delete", "add", "nest"]))
        key = draw(st.sampled_from(keys))
        if op == "set":
            spec[key] = draw(VALUES)
        elif op == "delete":
            spec.pop(key, None)
        elif op == "add":
            spec[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
        elif isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], draw(st.text(max_size=5)): draw(VALUES)}
        elif isinstance(spec.get(key), list) and spec[key] and isinstance(spec[key][0], dict):
            index = draw(st.integers(0, len(spec[key]) - 1))
            spec[key][index] = {**spec[key][index], draw(st.sampled_from(["id", "src", "bytes", "a", "kind", "zz"])):
                                draw(VALUES)}
    if isinstance(spec, dict):
        spec.update(pinned)
    return spec


def _strict_json(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"bare {token} in JSON output")
    return json.loads(text, parse_constant=refuse)


def check(command: list[str], spec: Any, *, out_option: str | None = None, json_out: bool = True,
          suffix: str = ".yaml") -> None:
    """Run ``ddlsim COMMAND SPEC`` in a fresh folder and check the contract."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / f"spec{suffix}"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True) if suffix == ".yaml" else json.dumps(spec))
        args = [*command[:1], str(path), *command[1:]] + (["--json"] if json_out else [])
        if out_option is not None:
            args += [out_option, str(folder / "out")]
        result = runner.invoke(app, args)
        where = f"ddlsim {' '.join(args)}\nspec: {spec!r}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
        if result.exit_code == 0:
            if json_out:
                _strict_json(result.stdout)
            return
        assert result.exit_code == 2, f"exit {result.exit_code} ({result.exception!r})\n{where}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), where
        assert "Traceback" not in result.output, where
        left = sorted(p.name for p in folder.iterdir() if p != path)
        assert not left, f"left behind {left}\n{where}"


TRAIN = {"workers": 2, "batch_size": 8, "model": "mlp", "data": "digits", "compressor": "qsgd",
         "compressor_params": {"levels": 4}, "lr": 0.1, "optimizer": "sgd", "topology": "switch", "link": "eth-10g",
         "device": "jetson-agx-orin-64gb", "seed": 0, "mode": "analytic", "overlap": "ddp", "bucket_cap": "1MiB"}
TRAIN_KEYS = sorted(set(TRAIN) | {"alpha", "sync", "shards", "momentum", "weight_decay", "target_accuracy",
                                  "slowdown", "server_device", "model_params", "data_params", "wireless",
                                  "compute_dtype", "first_bucket", "backward_factor"})


@FUZZ
@given(mutated(TRAIN, TRAIN_KEYS, {"steps": 1, "eval_every": 1}))
def test_fuzz_train(spec: Any) -> None:
    check(["train"], spec, out_option="--out")


FUZZ_SLOW = settings(max_examples=max(1, _EXAMPLES // 4), deadline=None, suppress_health_check=_HEALTH)  # seconds each

FL = {"clients": 4, "local_steps": 1, "batch_size": 8, "scheme": "baa", "radio": "lte-20mhz-ue", "data": "digits",
      "model": "mlp", "alpha": 0.5, "participation": 1.0, "lr": 0.05, "seed": 0, "scheme_params": {},
      "channel": {"path_loss": "umi-nlos"}, "placement": {"kind": "disc", "radius_m": 150, "min_distance_m": 10}}
FL_KEYS = sorted(set(FL) | {"server_lr", "model_params", "data_params", "mac_params", "power", "target_accuracy",
                            "device", "radio_overrides"})


@FUZZ_SLOW
@given(mutated(FL, FL_KEYS, {"rounds": 1, "eval_every": 1}))
def test_fuzz_fl(spec: Any) -> None:
    check(["fl"], spec)


INFER = {"name": "fz", "model": "mlp", "model_params": {"hidden": [16]}, "data": "digits", "workers": 2,
         "sensors": "quadrants", "partitioner": "repurpose", "params": {"keep": 0.1}, "device": "raspberry-pi-4b-4gb",
         "topology": "switch", "link": "eth-1g"}


@FUZZ_SLOW
@given(mutated(INFER, sorted(INFER) + ["wireless", "batch", "seed", "epochs"], {}))
def test_fuzz_infer(spec: Any) -> None:
    check(["infer"], spec)


RESTRUCTURE = {"name": "fz", "model": "mlp", "model_params": {"hidden": [16]}, "data": "digits", "workers": 2,
               "sensors": "quadrants", "device": "raspberry-pi-4b-4gb", "topology": "switch", "link": "eth-1g",
               "keeps": [1.0, 0.1], "baselines": ["central", "direct"], "target": {"max_accuracy_drop": 0.02}}


@FUZZ_SLOW
@given(mutated(RESTRUCTURE, sorted(RESTRUCTURE) + ["wireless", "seed", "epochs", "refit"], {"refine": 0}))
def test_fuzz_restructure(spec: Any) -> None:
    check(["restructure"], spec, out_option="--out")


SCENARIO = {"nodes": [{"id": "h0"}, {"id": "h1"}, {"id": "s0", "kind": "switch"}],
            "links": [{"a": "h0", "b": "s0", "bandwidth": "10Gbps", "latency": "1us"},
                      {"a": "h1", "b": "s0", "bandwidth": "10Gbps"}],
            "flows": [{"id": "A", "src": "h0", "dst": "h1", "bytes": "1MB"},
                      {"id": "B", "src": "h1", "dst": "h0", "bytes": "2MB", "start": "1ms", "rate_cap": "1Gbps"}]}


@FUZZ_CHEAP
@given(mutated(SCENARIO, ["nodes", "links", "flows"], {}), st.sampled_from([".yaml", ".json"]))
def test_fuzz_netsim(spec: Any, suffix: str) -> None:
    try:
        json.dumps(spec, allow_nan=False)
    except ValueError:
        suffix = ".yaml"   # JSON has no NaN: such a document is only written as YAML
    check(["netsim"], spec, suffix=suffix)


SWEEPS = {
    "collective": {"op": "allreduce", "algorithm": "ring", "workers": 4, "size": "1MiB", "bandwidth": "10Gbps",
                   "latency": "1us", "mode": "analytic", "topology": "switch"},
    "compress": {"scheme": "qsgd", "elements": 256, "trials": 1, "distribution": "laplace", "params": {"levels": 4}},
}


@st.composite
def sweep_specs(draw: Any) -> Any:
    workload = draw(st.sampled_from(sorted(SWEEPS)))
    base = SWEEPS[workload]
    axis = draw(st.sampled_from(sorted(base)))
    spec = {"name": "fz", "workload": workload, "base": draw(mutated(base, sorted(base), {})),
            "sweep": {"grid": {axis: draw(st.lists(VALUES, min_size=1, max_size=2))}}, "repeats": 1}
    return draw(mutated(spec, ["name", "workload", "base", "sweep", "repeats", "seed", "plots", "seeding"], {}))


@FUZZ_CHEAP
@given(sweep_specs())
def test_fuzz_sweep(spec: Any) -> None:
    check(["sweep", "--workers", "0"], spec, json_out=False, out_option="--out")


TEXT = st.sampled_from(["", "x", "1MiB", "0B", "1e30GiB", "-1MB", "10Gbps", "0bps", "5us", "-1s", "nan", "inf",
                        "ring", "direct", "halving-doubling", "binomial-tree", "allreduce", "broadcast", "alltoall",
                        "switch", "torus2d", "leaf-spine", "ring", "fully-connected", "loopback", "analytic", "des"])
COUNTS = st.sampled_from([-1, 0, 1, 2, 3, 6, 8, 1000, 10**9, 10**15])


@FUZZ_CHEAP
@given(st.fixed_dictionaries({"--op": TEXT, "--algorithm": TEXT, "--size": TEXT, "--bandwidth": TEXT,
                              "--latency": TEXT, "--topology": TEXT, "--workers": COUNTS},
                             optional={"--chunks": COUNTS, "--shards": COUNTS, "--root": COUNTS}))
def test_fuzz_collective_options(options: dict[str, Any]) -> None:
    options = {**options, "--mode": "analytic"} if options["--workers"] > 64 else options   # DES only when small
    args = ["collective", "--json", *[str(x) for kv in options.items() for x in kv]]
    result = runner.invoke(app, args)
    where = f"ddlsim {' '.join(args)}\nstdout: {result.stdout[-1000:]}\nstderr: {result.stderr[-1000:]}"
    if result.exit_code == 0:
        out = _strict_json(result.stdout)
        assert out["time_s"] is not None and out["time_s"] >= 0, where
        return
    assert result.exit_code == 2, f"exit {result.exit_code} ({result.exception!r})\n{where}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), where
