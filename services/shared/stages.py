"""Time one stage of a job in metrics and traces at once.

The worker names its stages (denoise, review, finalize, store, complete); each becomes an
observation of ``imgen_job_stage_seconds{stage, outcome}`` and, while tracing is on, a
span of the job's trace, so a dashboard and a trace view agree on where time went.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from services.shared import tracing
from services.shared.metrics import JOB_STAGE_SECONDS

OK = "ok"
ERROR = "error"


@contextlib.contextmanager
def job_stage(stage: str, traceparent: str = "") -> Iterator[None]:
    """Record ``stage``'s duration with outcome ``ok``, or ``error`` when it raised.

    ``traceparent`` is the one stored with the job: the stage's span joins the trace of
    the request that submitted it, whichever task or process runs the stage.
    """
    started = time.perf_counter()
    outcome = ERROR
    parent = {tracing.TRACEPARENT: traceparent} if traceparent else None
    try:
        with tracing.span(f"job.{stage}", parent=parent, attributes={"imgen.stage": stage}):
            yield
        outcome = OK
    finally:
        JOB_STAGE_SECONDS.labels(stage, outcome).observe(time.perf_counter() - started)
