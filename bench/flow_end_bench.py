"""Flow-end benchmark: how long a sync Prefect flow run takes to return after its body ends, with
Prefect's flow-run heartbeats on (the default, every 180 s) and off, side by side in one run.

Prefect 3's heartbeat thread sleeps in steps of one second and the sync flow engine joins it
when the run ends, so a run returns up to a second after its last step while heartbeats are on.
Every Chronos flow (``train-model``, each ``run-due-forecasts`` sweep, an on-demand forecast)
pays it; the zombie automation (``deployments/automations/crash-zombie-flows.yaml``) needs the
heartbeats. The bodies here sleep for different fractions of a second, so the wait ranges over
its whole span.

    .venv/bin/python bench/flow_end_bench.py --repeats 5

Run it from the repository root. It uses Prefect's test harness.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

BODY_SECONDS = (0.1, 0.3, 0.5, 0.7, 0.9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per body length and side")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="chronos-flow-end-bench-")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    body_ended: list[float] = []

    @flow
    def body(seconds: float) -> None:
        time.sleep(seconds)
        body_ended.append(time.perf_counter())

    def flow_end(seconds: float) -> float:
        body(seconds)
        return time.perf_counter() - body_ended[-1]

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with prefect_test_harness(server_startup_timeout=240):
        body(0.0)  # warm-up
        sides: dict[str, list[float]] = {"heartbeats on": [], "heartbeats off": []}
        for _ in range(args.repeats):
            for seconds in BODY_SECONDS:  # alternate the sides, one run each
                sides["heartbeats on"].append(flow_end(seconds))
                with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                    sides["heartbeats off"].append(flow_end(seconds))
    for side, ends in sides.items():
        print(
            f"{side}: flow end median {statistics.median(ends):.3f} s, "
            f"min {min(ends):.3f} s, max {max(ends):.3f} s ({len(ends)} runs)"
        )
    on, off = (statistics.median(ends) for ends in sides.values())
    print(f"median flow end, heartbeats on / off: {on / off:.1f}x (+{on - off:.2f} s per run)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
