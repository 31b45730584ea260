"""Real measurements on this host, for calibration and validation (docs/validation.md).

``world`` runs multi-process gloo jobs on 127.0.0.1; ``collectives`` and ``training`` time
collectives and DDP training steps (with the compression hooks); ``host`` times single-process
kernels; ``fit`` and ``link`` fit hardware figures to the timings; ``calibrate`` writes the
``this-host`` catalog file; ``cases`` lists the validation configurations; ``predict`` gives
closed-form counterparts; ``validate`` sets every measured configuration beside its simulation
on the calibrated entries (``ddlsim validate``). Records are :class:`~.records.Measurement`.
"""
