"""A moto server in its own process, with the stack deployed from template.yaml, so that a purge worker in
another process can be measured with tracemalloc without counting the simulator's own allocations.

Protocol on stdin/stdout, one line each: it prints ``{"endpoint": ...}`` once deployed, then answers
``seed <account_id> <versions>`` (writes the versions straight into its S3) with ``ok <n>``, and
exits on ``quit`` or end of input.
"""

from __future__ import annotations

import json
import socket
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from bench.harness import seed_versions, speed_up_moto
    from sundown_local.server import start_local_stack

    speed_up_moto()
    port = free_port()
    server, stack = start_local_stack(port=port)
    print(
        json.dumps(
            {"endpoint": f"http://127.0.0.1:{port}", "bucket": stack.physical_names["DocumentsBucket"]}
        ),
        flush=True,
    )
    try:
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] == "seed":
                n = seed_versions(stack.physical_names["DocumentsBucket"], words[1], int(words[2]))
                print(f"ok {n}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
