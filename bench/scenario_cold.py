"""i: cold start. A fresh interpreter imports one handler module (functions/<name>/app.py, with the layer
on sys.path and the template's environment), which runs its module-level initialisation; compared with a
fresh interpreter doing ``import boto3`` alone. Runs are interleaved (boto3, each handler, boto3, ...),
five of each, and the medians compared.

The environment is Lambda's as far as the code can tell: the template's variables (names of a stack
described offline), ``AWS_LAMBDA_FUNCTION_NAME`` and ``LAMBDA_TASK_ROOT`` (so Powertools' Tracer is
enabled, as ``Tracing: Active`` has it on Lambda). A second figure adds the first-use initialisation
(``sundown.runtime.runtime()``: settings validated, models bound; no AWS call), and a third is the
import with ``Tracing: Disabled`` (POWERTOOLS_TRACE_DISABLED=true: no X-Ray SDK).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys, time, json
t0 = time.perf_counter()
{body}
t1 = time.perf_counter()
{after}
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "with_runtime": t2 - t0}}))
"""


def _environment(function_id: str | None, stack: Any, tracing: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    paths = []
    if function_id is not None:
        code = ROOT / stack.functions()[function_id]["code_uri"]
        env.update(stack.function_environment(function_id))
        # What the template gives with Tracing=Disabled (tests/unit/test_template_loader.py checks it).
        env["POWERTOOLS_TRACE_DISABLED"] = "false" if tracing else "true"
        env.update({"AWS_LAMBDA_FUNCTION_NAME": function_id, "LAMBDA_TASK_ROOT": str(code)})
        paths = [str(code), str(ROOT / "layers" / "sundown")]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    # Compiled once, then read from a cache outside the repository (as boto3's own .pyc files are).
    env["PYTHONPYCACHEPREFIX"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "sundown-bench-pycache")
    return env


def _run(function_id: str | None, stack: Any, tracing: bool = True) -> dict[str, float]:
    if function_id is None:
        code = PROBE.format(body="import boto3", after="")
    else:
        code = PROBE.format(body="import app", after="from sundown.runtime import runtime; runtime()")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_environment(function_id, stack, tracing),
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cold import of {function_id or 'boto3'} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cold_start(repeats: int = 5) -> dict[str, Any]:
    from sundown_local.server import attached_stack

    stack = attached_stack("http://127.0.0.1:4566")  # names only: nothing is called
    functions = sorted(stack.functions())
    # Warm the OS file cache and the .pyc files first (Lambda's images are cached too).
    for function_id in [None, *functions]:
        _run(function_id, stack)
    samples: dict[str, list[dict[str, float]]] = {"boto3": []}
    for _ in range(repeats):
        for function_id in functions:
            samples["boto3"].append(_run(None, stack))
            samples.setdefault(function_id, []).append(_run(function_id, stack))
            samples.setdefault(f"{function_id} untraced", []).append(_run(function_id, stack, tracing=False))
    baseline = statistics.median(s["import"] for s in samples["boto3"])
    results = {}
    for function_id in functions:
        imp = statistics.median(s["import"] for s in samples[function_id])
        full = statistics.median(s["with_runtime"] for s in samples[function_id])
        untraced = statistics.median(s["import"] for s in samples[f"{function_id} untraced"])
        results[function_id] = {
            "import_s": imp,
            "with_runtime_s": full,
            "ratio": imp / baseline,
            "ratio_with_runtime": full / baseline,
            "untraced_import_s": untraced,
            "untraced_ratio": untraced / baseline,
        }
    return {
        "boto3_s": baseline,
        "boto3_runs": len(samples["boto3"]),
        "repeats": repeats,
        "functions": results,
    }
