"""The cold-start legs that decide how app/metrics.py writes its line (`make bench`, part 1).

Each replaces app.metrics.write_line before the handler is imported, as the app would if it
used that way instead: its own lines as shipped, no metrics at all, Powertools' Metrics, or
aws-embedded-metrics. The
library is imported here, at init, where the app would import it, and writes the same counts
on the first invocation. Runs inside bench.py's cold-start probe, with the venv's packages
last on sys.path (the libraries are not in the zip).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

import app.metrics


def own() -> Callable[[Counter[str], str | None], None]:
    return app.metrics.write_line  # as shipped; through here so every leg pays the same


def no_metrics() -> Callable[[Counter[str], str | None], None]:
    return lambda counts, request_id: None


def powertools() -> Callable[[Counter[str], str | None], None]:
    from aws_lambda_powertools.metrics import Metrics, MetricUnit

    emitter = Metrics(namespace=app.metrics.NAMESPACE, service="user-api")

    def write_line(counts: Counter[str], request_id: str | None) -> None:
        emitter.add_dimension(app.metrics.STAGE_DIMENSION, app.metrics.STAGE)
        for name, value in counts.items():
            emitter.add_metric(name=name, unit=MetricUnit.Count, value=value)
        if request_id:
            emitter.add_metadata(key="requestId", value=request_id)
        emitter.flush_metrics()  # prints the EMF document

    return write_line


def aws_embedded_metrics() -> Callable[[Counter[str], str | None], None]:
    import asyncio

    # Read at import: stdout as in Lambda, never the agent's socket nor EC2's metadata.
    os.environ.setdefault("AWS_EMF_ENVIRONMENT", "Lambda")
    from aws_embedded_metrics.logger.metrics_logger_factory import create_metrics_logger

    def write_line(counts: Counter[str], request_id: str | None) -> None:
        logger = create_metrics_logger()
        logger.set_namespace(app.metrics.NAMESPACE)
        logger.set_dimensions({app.metrics.STAGE_DIMENSION: app.metrics.STAGE})
        for name, value in counts.items():
            logger.put_metric(name, value, "Count")
        if request_id:
            logger.set_property("requestId", request_id)
        asyncio.run(logger.flush())

    return write_line


VARIANTS = {
    "own": own,
    "no-metrics": no_metrics,
    "powertools": powertools,
    "aws-embedded-metrics": aws_embedded_metrics,
}


def install(variant: str) -> None:
    app.metrics.write_line = VARIANTS[variant]()  # type: ignore[assignment]


if __name__ == "__main__":  # a quick look at each variant's line
    for name in VARIANTS:
        install(name)
        print(name)
        app.metrics.write_line(Counter({app.metrics.REQUESTS: 1}), "req-1")
