"""The Python examples in the user docs run and print what the docs say."""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", ["network.md", "training.md", "experiments.md", "wireless.md", "inference.md"])
def test_doc_examples_run(page):
    failures, tried = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0
