"""``python -m experiments.cli``: the ``ddlsim`` command."""

from . import main

main()
