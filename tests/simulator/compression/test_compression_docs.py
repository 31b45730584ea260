"""docs/compression.md runs as written and lists every registered scheme."""

import re
from pathlib import Path

from simulator.compression import schemes

DOC = Path(__file__).resolve().parents[3] / "docs" / "compression.md"


def test_python_snippets_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(DOC), "exec"), namespace)
        assert namespace["g_hat"].shape == namespace["g"].shape


def test_scheme_table_lists_every_scheme():
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(), flags=re.M))
    assert rows == {s.name for s in schemes()}
