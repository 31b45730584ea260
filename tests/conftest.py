"""Test-wide settings.

Property tests draw their examples from a fixed seed by default, so the suite gives the same verdict
on every run and every machine (a failure seen in CI is the failure you reproduce). To search new
examples, run ``HYPOTHESIS_PROFILE=explore python -m pytest``.
"""

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
