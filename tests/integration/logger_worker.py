"""One serving process of a test: logs predictions through its own ServingLogger on a
spool folder it may share with others, closes, and prints its counters as JSON.

    python -m tests.integration.logger_worker URL INDEX SPOOL_DIR PREFIX COUNT CLOSE_TIMEOUT_S
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from skewguard.config import load_settings


def main(argv: list[str]) -> int:
    from serving.logger import ServingLogger

    url, index, spool_dir, prefix, count, close_timeout = argv
    base = load_settings("test", env={})
    settings = base.model_copy(
        update={
            "elasticsearch": base.elasticsearch.model_copy(update={"url": url, "index": index}),
            "serving": base.serving.model_copy(
                update={"spool_dir": Path(spool_dir), "batch_size": 20, "flush_interval_s": 0.05, "retry_max_s": 0.5}
            ),
        }
    )
    logger = ServingLogger(settings)
    for i in range(int(count)):
        logger.log_prediction(
            workload_id="w", event_id=f"{prefix}-{i}", features={"i": i, "pad": "x" * 200}, outputs={"s": 0.5},
            model={"name": "m", "version": "1", "transform_hash": "h"},
        )  # fmt: skip
    delivered = logger.close(timeout=float(close_timeout))
    sys.stdout.write(json.dumps({"closed_clean": delivered, **logger.stats_dict()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
