"""e: the purge worker's peak memory (tracemalloc) for a tenant of N and of 10xN object versions.

moto runs in a separate process (bench.moto_server), so the worker's process holds only the worker:
its peak is what the worker itself allocates. The worker first purges a small tenant (1,000 versions, one full page)
so that clients, service models and code are loaded, as in a warm Lambda; tracing starts just before
the measured invocation, and the peak is reset at the start of each worker invocation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKER = "PurgeWorkerFunction"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("local", "layers/sundown", "."))
    return env


def measure_in_subprocess(versions: int) -> dict[str, Any]:
    """Run ``measure`` in a fresh interpreter (its own moto server process too); returns its figures."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.scenario_memory", str(versions)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith('{"memory"')]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"memory probe for {versions} versions failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])["memory"]


def measure(versions: int) -> dict[str, Any]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.moto_server"],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        hello = json.loads(server.stdout.readline())
        endpoint = hello["endpoint"]

        def seed(account_id: str, n: int) -> int:
            server.stdin.write(f"seed {account_id} {n}\n")
            server.stdin.flush()
            return int(server.stdout.readline().split()[1])

        from sundown_local.server import attached_stack, aws_environment
        from sundown_local.wiring import Wiring

        os.environ.update(aws_environment(endpoint))
        os.environ.pop("AWS_PROFILE", None)
        wiring = Wiring.of(attached_stack(endpoint), extra_env={"POWERTOOLS_LOG_LEVEL": "ERROR"})

        from bench import scenario_purge

        seed("warm", 1_000)
        seeded = seed("measured", versions)
        scenario_purge.start(wiring, "warm")
        wiring.clock = scenario_purge.NOW
        wiring.drain_all()  # warm: clients and models loaded, as in a warm Lambda
        scenario_purge.start(wiring, "measured", configure_first=False)

        peaks: list[int] = []
        real_invoke = wiring.runner.invoke

        def observed(logical_id: str, event: Any, context: Any = None) -> Any:
            tracemalloc.reset_peak()
            try:
                return real_invoke(logical_id, event, context)
            finally:
                peaks.append(tracemalloc.get_traced_memory()[1])

        wiring.runner.invoke = observed
        tracemalloc.start()
        began = time.perf_counter()
        wiring.drain_all()
        seconds = time.perf_counter() - began
        tracemalloc.stop()
        wiring.runner.invoke = real_invoke

        from sundown.models import AccountModel

        final = AccountModel.get("measured", consistent_read=True)
        return {
            "versions": seeded,
            "peak_bytes": max(peaks),
            "invocations": len(peaks),
            "status": final.status,
            "deleted": (final.certificate or {}).get("totals", {}).get("object_versions_deleted"),
            "seconds": seconds,
        }
    finally:
        try:
            server.stdin.write("quit\n")
            server.stdin.flush()
            server.wait(timeout=10)
        except Exception:  # noqa: BLE001
            server.kill()


def run_memory(small: int = 5_000, factor: int = 10) -> dict[str, Any]:
    a = measure_in_subprocess(small)
    b = measure_in_subprocess(small * factor)
    return {"small": a, "large": b, "ratio": b["peak_bytes"] / a["peak_bytes"]}


if __name__ == "__main__":
    print(json.dumps({"memory": measure(int(sys.argv[1]))}), flush=True)
