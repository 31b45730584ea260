"""What the user asks: experiment specs, sweeps, result tables, plots and the ``ddlsim`` CLI."""
