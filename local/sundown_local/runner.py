"""Run the template's functions in this process, the way Lambda would: same handler, same environment."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sundown_local.stack import LocalStack

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FakeContext:
    """Enough of Lambda's context object for Powertools and for time-budget checks."""

    function_name: str
    remaining_ms: int = 900_000
    memory_limit_in_mb: int = 256
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self.function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class FunctionRunner:
    """Imports each function's handler from its CodeUri and invokes it with the template's environment."""

    def __init__(
        self, stack: LocalStack, root: Path = REPO_ROOT, extra_env: dict[str, str] | None = None
    ) -> None:
        self.stack = stack
        self.root = root
        self.extra_env = extra_env or {}
        self._functions = stack.functions()
        self._modules: dict[str, ModuleType] = {}
        self._active_env: dict[str, str] | None = None

    def invoke(self, logical_id: str, event: Any, context: FakeContext | None = None) -> Any:
        self._enter_environment(logical_id)  # before the import: Powertools reads its settings there
        handler = self._handler(logical_id)
        return handler(event, context or FakeContext(function_name=logical_id))

    def _enter_environment(self, logical_id: str) -> None:
        env = self.stack.function_environment(logical_id)
        # The template declares AWS_ENDPOINT_URL empty (a hook for `sam local invoke`); this process is
        # the local run, so its own endpoint (a moto server, or none under mock_aws) stands.
        if not env.get("AWS_ENDPOINT_URL"):
            env.pop("AWS_ENDPOINT_URL", None)
        env["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon here, whatever Tracing says
        env.setdefault("AWS_LAMBDA_FUNCTION_NAME", logical_id)
        env.update(self.extra_env)
        if env != self._active_env:
            os.environ.update(env)
            from sundown.runtime import reset

            reset()  # each function reads its own settings on first use, as in a fresh Lambda
            self._active_env = env

    def _handler(self, logical_id: str) -> Any:
        spec = self._functions.get(logical_id)
        if spec is None:
            raise KeyError(f"{logical_id} is not a function in template.yaml")
        module = self._modules.get(logical_id)
        if module is None:
            module_name, _, attribute = spec["handler"].rpartition(".")
            path = self.root / spec["code_uri"] / f"{module_name.replace('.', '/')}.py"
            loader_spec = importlib.util.spec_from_file_location(f"sundown_fn_{logical_id}", path)
            if loader_spec is None or loader_spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[loader_spec.name] = module
            loader_spec.loader.exec_module(module)
            self._modules[logical_id] = module
            module.__dict__["_sundown_handler"] = getattr(module, attribute)
        return module.__dict__["_sundown_handler"]
