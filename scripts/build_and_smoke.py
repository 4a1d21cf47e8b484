#!/usr/bin/env python3
"""`sam build` the stack, then smoke-test the built artifacts the way Lambda loads them.

Run by ``make build`` with the SAM CLI's own virtualenv (``.venv-sam``); stdlib + PyYAML only.

1. **A python3.12 for the build.** ``sam build`` (no container) resolves ``python3.12`` on PATH and runs
   ``python3.12 -m pip`` with it. A pyenv shim called python3.12 exists even when 3.12 is not selected, so
   PATH is not trusted: a directory whose ``python3.12`` really is 3.12 with pip (this script's own venv,
   else a symlink to what ``scripts/find-python312`` prints) is put first on PATH. No 3.12 anywhere:
   exit 2 with find-python312's instructions.
2. **sam build** (``--cached --parallel``, telemetry off) into ``.aws-sam/build``. For an arm64 layer on an
   x86_64 host SAM's Python builder downloads the manylinux aarch64 wheels from PyPI; nothing else is
   fetched.
3. **Architecture check.** Every distribution of every built layer that carries compiled code must have
   wheel tags for CPython 3.12 (or abi3) on glibc manylinux for the layer's architecture (glibc <= 2.34,
   Amazon Linux 2023), and every ELF file in the layer must be for that machine.
4. **Import smoke test.** Each function's handler module is imported, and the handler looked up, by a
   fresh ``python3.12 -I -S`` (no site-packages of any venv) whose sys.path is Lambda's: the function
   dir, each layer's ``python/lib/python3.12/site-packages`` and ``python``, the stdlib, and last a dir
   holding only what the Lambda runtime provides (boto3 and its dependencies, at requirements-dev.txt's
   boto3 pin). The environment is Lambda's: reserved variables, dummy credentials, and the template's
   (global + function) variables with dummy values. A dependency missing from a requirements.txt fails
   the import with "No module named ...".

   A host that cannot execute the layer's architecture (arm64 layer, x86_64 host) imports a copy of the
   *built* layer in which each compiled distribution was swapped for the host's wheel of the very same
   name and version (pure-Python files, versions and the dependency set are those of the real arm64
   build); step 3 vouches for the arm64 binaries themselves.
5. **Negative control.** The same import, with one distribution (default ``pynamodb``) removed from a copy
   of the layer, must fail with ``No module named`` for at least one handler; otherwise the smoke test
   could not catch a missing dependency and the run fails.

Exit status: 0 all good, 1 build or smoke failure, 2 no usable python3.12.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PY_VERSION = (3, 12)
PY_TAG = "cp312"
# Lambda's python3.12 runtime is Amazon Linux 2023: glibc 2.34. A manylinux_2_35+ wheel would not load there.
LAMBDA_GLIBC = (2, 34)
ELF_MACHINES = {62: "x86_64", 183: "arm64"}  # e_machine: EM_X86_64, EM_AARCH64
MACHINE_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
WHEEL_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
# What the Lambda Python runtime puts on sys.path itself (boto3 and its dependency closure).
RUNTIME_PROVIDED = "boto3"
IMPORT_TIMEOUT_S = 120

# Runs inside the fresh interpreter: Lambda's sys.path, then what awslambdaric does with _HANDLER (and,
# given an event, the invocation itself, with a context carrying what the runtime's does).
IMPORT_PROBE = r"""
import importlib, json, os, sys, time, traceback, types
cfg = json.loads(sys.argv[1])
stdlib = [p for p in sys.path if p]
sys.path[:] = cfg["front"] + stdlib + cfg["back"]
module_name, _, attr = cfg["handler"].rpartition(".")
t0 = time.perf_counter()
response = None
try:
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, attr)
    if not callable(handler):
        raise TypeError(f"{cfg['handler']} is not callable")
    if "event" in cfg:
        name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        context = types.SimpleNamespace(
            function_name=name, function_version="$LATEST", aws_request_id="local-invoke",
            invoked_function_arn=f"arn:aws:lambda:{os.environ['AWS_REGION']}:123456789012:function:{name}",
            memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
            log_group_name=os.environ["AWS_LAMBDA_LOG_GROUP_NAME"], log_stream_name="local",
            get_remaining_time_in_millis=lambda: 60_000,
        )
        response = handler(cfg["event"], context)
except BaseException as exc:
    traceback.print_exc()
    print("SMOKE-RESULT " + json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}",
          "missing": getattr(exc, "name", None) if isinstance(exc, ImportError) else None}))
    sys.exit(1)
roots = {}
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None) or ""
    for label, root in cfg["labels"].items():
        if f.startswith(root):
            roots[label] = roots.get(label, 0) + 1
print("SMOKE-RESULT " + json.dumps({"ok": True, "seconds": round(time.perf_counter() - t0, 2),
      "modules": len(sys.modules), "from": roots, "response": response}, default=str))
"""


class SmokeError(Exception):
    """A failure the summary reports; the run exits 1."""


# --------------------------------------------------------------------------- python3.12


def find_python312(explicit: str | None = None) -> Path:
    """A working 3.12 interpreter: --python, $PYTHON312, or scripts/find-python312 (which explains how to get one)."""
    if explicit:
        if _python_version(explicit) != PY_VERSION:
            raise SystemExit(f"error: {explicit} is not a working Python 3.12 interpreter")
        return Path(explicit)
    proc = subprocess.run(
        [str(REPO_ROOT / "scripts" / "find-python312")], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        sys.stderr.write(proc.stderr or "error: no Python 3.12 interpreter found (scripts/find-python312)\n")
        raise SystemExit(2)
    return Path(proc.stdout.strip())


def _python_version(exe: str | Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [str(exe), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    parts = out.stdout.split()
    return (int(parts[0]), int(parts[1])) if out.returncode == 0 and len(parts) == 2 else None


def _has_pip(exe: Path) -> bool:
    return (
        subprocess.run([str(exe), "-m", "pip", "--version"], capture_output=True, check=False).returncode == 0
    )


def build_python_dir(fallback: Path, scratch: Path) -> Path:
    """A directory whose ``python3.12`` is a real 3.12 with pip, to put first on PATH for ``sam build``."""
    own = Path(sys.executable).parent / "python3.12"
    if own.exists() and _python_version(own) == PY_VERSION and _has_pip(own):
        return own.parent
    if not _has_pip(fallback):
        raise SystemExit(
            f"error: {fallback} is Python 3.12 but has no pip, which sam build needs "
            f"(apt-get install python3-pip / {fallback} -m ensurepip)"
        )
    shim = scratch / "python312-bin"
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "python3.12"
    link.unlink(missing_ok=True)
    link.symlink_to(fallback)
    return shim


# --------------------------------------------------------------------------- sam build


def sam_executable() -> str:
    own = Path(sys.executable).parent / "sam"
    found = str(own) if own.exists() else shutil.which("sam")
    if not found:
        raise SystemExit("error: the SAM CLI is not installed (make build installs it into .venv-sam)")
    return found


def run_sam_build(template: Path, build_dir: Path, python_dir: Path) -> float:
    env = dict(
        os.environ, SAM_CLI_TELEMETRY="0", PATH=f"{python_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    cmd = [
        sam_executable(),
        "build",
        "--template-file",
        str(template),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(build_dir.parent / "cache"),
        "--cached",
        "--parallel",
    ]
    print("+ " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, check=False)
    if proc.returncode != 0:
        raise SmokeError(f"sam build failed (exit {proc.returncode})")
    return time.monotonic() - t0


# --------------------------------------------------------------------------- the built template


# One CloudFormation YAML loader for the whole repo (short tags read as their long form); it needs only PyYAML.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))
from sundown_local.template import CfnYamlLoader as _CfnLoader  # noqa: E402


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # a SafeLoader subclass


@dataclass
class Layer:
    logical_id: str
    root: Path  # what Lambda extracts to /opt
    architecture: str

    @property
    def python_dirs(self) -> list[Path]:
        """/opt/python/lib/python3.12/site-packages and /opt/python, in Lambda's order, where present."""
        dirs = [self.root / "python" / "lib" / "python3.12" / "site-packages", self.root / "python"]
        return [d for d in dirs if d.is_dir()]


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    runtime: str
    architecture: str
    memory: int
    layers: list[str]  # logical ids of layers built in this template
    external_layers: list[Any]
    env: dict[str, str] = field(default_factory=dict)


def _merge_globals(glob: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM Globals: maps merge, lists append (globals first), scalars are overridden."""
    merged = dict(glob)
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_globals(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + value
        else:
            merged[key] = value
    return merged


def _layer_architectures(build_toml: Path) -> dict[str, str]:
    """What SAM itself recorded: layer name -> architecture it was built for."""
    if not build_toml.is_file():
        return {}
    data = tomllib.loads(build_toml.read_text())
    return {
        d.get("layer", d.get("layer_name")): d.get("architecture", "x86_64")
        for d in data.get("layer_build_definitions", {}).values()
    }


def read_build(build_dir: Path) -> tuple[dict[str, Any], dict[str, Layer], list[Function]]:
    tpl = load_template(build_dir / "template.yaml")
    resources = tpl.get("Resources", {})
    recorded = _layer_architectures(build_dir.parent / "build.toml")
    layers: dict[str, Layer] = {}
    for lid, res in resources.items():
        if res.get("Type") in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            props = res.get("Properties", {})
            uri = props.get("ContentUri", props.get("Content"))
            if isinstance(uri, str) and (build_dir / uri).is_dir():
                arch = recorded.get(lid) or (props.get("CompatibleArchitectures") or ["x86_64"])[0]
                layers[lid] = Layer(lid, build_dir / uri, arch)
    glob = (tpl.get("Globals") or {}).get("Function", {})
    functions = []
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = _merge_globals(glob, res.get("Properties", {}))
        if props.get("PackageType", "Zip") != "Zip" or props.get("InlineCode"):
            continue
        refs = [ref.get("Ref") if isinstance(ref, dict) else None for ref in props.get("Layers", [])]
        functions.append(
            Function(
                logical_id=lid,
                code_dir=build_dir / props["CodeUri"],
                handler=props["Handler"],
                runtime=props.get("Runtime", ""),
                architecture=(props.get("Architectures") or ["x86_64"])[0],
                memory=int(props.get("MemorySize", 128)),
                layers=[r for r in refs if r in layers],
                external_layers=[
                    lay for lay, r in zip(props.get("Layers", []), refs, strict=True) if r not in layers
                ],
                env={
                    name: value
                    for name, raw in ((props.get("Environment") or {}).get("Variables") or {}).items()
                    if (value := dummy_value(raw, tpl, lid)) is not None
                },
            )
        )
    return tpl, layers, functions


# --------------------------------------------------------------------------- dummy environment values

REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "sundown",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def _ref(name: str, tpl: dict[str, Any]) -> str | None:
    if name == "AWS::NoValue":
        return None
    if name in PSEUDO:
        return PSEUDO[name]
    param = (tpl.get("Parameters") or {}).get(name)
    if param is not None:
        return str(param.get("Default", f"dummy-{name}"))
    rtype = ((tpl.get("Resources") or {}).get(name) or {}).get("Type", "")
    if rtype == "AWS::SQS::Queue":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sundown-{name}"
    return f"sundown-{name}"


def _getatt(name: str, attr: str) -> str:
    if attr == "Arn":
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:dummy:sundown-{name}"
    return f"sundown-{name}-{attr}"


def dummy_value(raw: Any, tpl: dict[str, Any], where: str) -> str | None:
    """A stand-in for an environment value: literals as they are, intrinsics resolved to plausible dummies."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (str, int, float)):
        return str(raw)
    if isinstance(raw, dict) and len(raw) == 1:
        ((fn, arg),) = raw.items()
        if fn == "Ref":
            return _ref(arg, tpl)
        if fn == "Fn::GetAtt":
            name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return _getatt(name, attr)
        if fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(m: re.Match[str]) -> str:
                key = m.group(1)
                if key.startswith("!"):
                    return "${" + key[1:] + "}"
                if key in local:
                    return dummy_value(local[key], tpl, where) or ""
                if "." in key:
                    return _getatt(*key.split(".", 1))
                return _ref(key, tpl) or ""

            return re.sub(r"\$\{([^}]+)\}", sub, text)
        if fn == "Fn::Join":
            sep, items = arg
            return sep.join(v for v in (dummy_value(i, tpl, where) for i in items) if v is not None)
        if fn == "Fn::If":
            return dummy_value(arg[1], tpl, where)
    return f"dummy-{where}"


def lambda_env(fn: Function, layers: list[Layer], runtime_dir: Path, home: Path) -> dict[str, str]:
    """Lambda's reserved variables (dummy credentials, no host AWS config), then the template's."""
    name = f"sundown-{fn.logical_id}"
    ld_path = [str(fn.code_dir / "lib"), *(str(layer.root / "lib") for layer in layers)]
    if os.environ.get("LD_LIBRARY_PATH"):
        ld_path.append(os.environ["LD_LIBRARY_PATH"])
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),
        "LD_LIBRARY_PATH": os.pathsep.join(ld_path),
        "LAMBDA_TASK_ROOT": str(fn.code_dir),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "_HANDLER": fn.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]00000000000000000000000000000000",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_ACCESS_KEY_ID": "ASIADUMMYSMOKETEST00",
        "AWS_SECRET_ACCESS_KEY": "dummy-secret-for-the-import-smoke-test",
        "AWS_SESSION_TOKEN": "dummy-session-token",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        # Lambda points these at its X-Ray daemon; nothing is sent at import time, and never off this host.
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
        "_AWS_XRAY_DAEMON_PORT": "2000",
    }
    env.update(fn.env)
    return env


# --------------------------------------------------------------------------- distributions and binaries


@dataclass
class Dist:
    name: str
    version: str
    dist_info: Path
    tags: list[str]
    purelib: bool
    files: list[str]  # RECORD paths, relative to the dir holding the .dist-info

    @property
    def binaries(self) -> list[str]:
        return [f for f in self.files if re.search(r"\.(so|pyd)(\.|$)", f)]

    @property
    def compiled(self) -> bool:
        return not self.purelib or bool(self.binaries)


def _headers(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            if not line.strip():
                break  # headers end at the first blank line (METADATA's description follows)
            key, sep, value = line.partition(":")
            if sep:
                out.setdefault(key.strip(), []).append(value.strip())
    return out


def scan_dists(site_dir: Path) -> list[Dist]:
    dists = []
    for info in sorted(site_dir.glob("*.dist-info")):
        meta = _headers(info / "METADATA")
        wheel = _headers(info / "WHEEL")
        record = info / "RECORD"
        files = (
            [row[0] for row in csv.reader(record.read_text().splitlines()) if row] if record.is_file() else []
        )
        dists.append(
            Dist(
                name=(meta.get("Name") or [info.name.split("-")[0]])[0],
                version=(meta.get("Version") or [info.name.split("-")[1].removesuffix(".dist-info")])[0],
                dist_info=info,
                tags=wheel.get("Tag", []),
                purelib=(wheel.get("Root-Is-Purelib") or ["true"])[0].lower() == "true",
                files=files,
            )
        )
    return dists


def elf_machine(path: Path) -> str | None:
    """The architecture an ELF file is for ("arm64", "x86_64", "e_machine=N"), or None if not ELF."""
    with path.open("rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    endian = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", head[18:20])
    return ELF_MACHINES.get(machine, f"e_machine={machine}")


def tag_problem(tag: str, arch: str) -> str | None:
    """Why a wheel tag cannot load on Lambda python3.12/<arch>, or None if it can."""
    try:
        interp, abi, plat = tag.split("-")
    except ValueError:
        return f"malformed tag {tag!r}"
    if plat == "any":
        return None
    if abi == "abi3":
        m = re.fullmatch(r"cp3(\d+)", interp)
        if not m or int(m.group(1)) > PY_VERSION[1]:
            return f"{tag}: abi3 wheel needs a newer CPython than 3.12"
    elif abi != PY_TAG:
        return f"{tag}: built for ABI {abi}, not {PY_TAG}"
    m = re.fullmatch(r"manylinux(?:_(\d+)_(\d+)|(2014|2010|1))_(\w+)", plat)
    if not m:
        return f"{tag}: platform {plat} is not glibc manylinux (Lambda)"
    glibc = (
        (int(m.group(1)), int(m.group(2)))
        if m.group(1)
        else {"2014": (2, 17), "2010": (2, 12), "1": (2, 5)}[m.group(3)]
    )
    if m.group(4) != WHEEL_ARCH[arch]:
        return f"{tag}: wheel for {m.group(4)}, layer is {arch} ({WHEEL_ARCH[arch]})"
    if glibc > LAMBDA_GLIBC:
        return f"{tag}: needs glibc {glibc[0]}.{glibc[1]}, Lambda python3.12 has {LAMBDA_GLIBC[0]}.{LAMBDA_GLIBC[1]}"
    return None


def check_architecture(layer: Layer) -> tuple[list[Dist], list[str]]:
    """The layer's compiled distributions, and every way its binaries could not load on <arch>."""
    problems: list[str] = []
    compiled: list[Dist] = []
    owned: set[Path] = set()
    for site in layer.python_dirs:
        for dist in scan_dists(site):
            owned.update((site / f).resolve() for f in dist.files)
            if not dist.compiled:
                continue
            compiled.append(dist)
            # A wheel may carry several tags (compressed tag sets); one that fits is enough.
            issues = [p for t in dist.tags if (p := tag_problem(t, layer.architecture))]
            if not dist.tags or len(issues) == len(dist.tags):
                problems += issues or [f"{dist.name} {dist.version}: no wheel tags recorded"]
    for path in sorted(p for p in layer.root.rglob("*") if p.is_file() and not p.is_symlink()):
        machine = elf_machine(path)
        if machine is None:
            continue
        rel = path.relative_to(layer.root)
        if machine != layer.architecture:
            problems.append(f"{rel}: ELF for {machine}, layer is {layer.architecture}")
        m = re.search(r"\.cpython-(\d)(\d+)-", path.name)
        if m and (int(m.group(1)), int(m.group(2))) != PY_VERSION:
            problems.append(f"{rel}: extension built for CPython {m.group(1)}.{m.group(2)}")
        if path.resolve() not in owned:
            problems.append(f"{rel}: compiled file that belongs to no installed distribution")
    return compiled, problems


def _top(rel: str) -> str | None:
    first = Path(rel).parts[0] if rel else ""
    return None if first in ("", "..", ".") else first


def _merge_into(src: Path, dest: Path) -> None:
    """Link src's entries into dest; an entry dest already has (a shared namespace dir) is merged below it."""
    for entry in src.iterdir():
        if entry.name == ".complete":
            continue
        target = dest / entry.name
        if target.is_symlink() and target.is_dir():  # a linked dir that must now hold more: make it real
            linked = target.resolve()
            target.unlink()
            target.mkdir()
            _merge_into(linked, target)
        if target.is_dir() and entry.is_dir():
            _merge_into(entry, target)
        elif not target.exists():
            target.symlink_to(entry.resolve())


def layer_view(layer: Layer, dest: Path, drop: Iterable[Dist] = (), add: Iterable[Path] = ()) -> Layer:
    """A copy of a built layer made of symlinks to its files, without the ``drop`` distributions and with the
    contents of each ``add`` dir (a ``pip install --target``) merged into its first python dir.

    Symlinks keep this cheap (a layer is thousands of files); the built layer itself is never touched.
    """
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    drop = list(drop)
    site_dirs = layer.python_dirs

    def holds_site(entry: Path) -> bool:
        return any(site == entry or site.is_relative_to(entry) for site in site_dirs)

    def mirror(src: Path, out: Path, skip: set[str]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for entry in src.iterdir():
            if entry.name in skip:
                continue
            if holds_site(entry):  # a python dir, or on the way to one: mirrored in its own right
                if entry not in site_dirs:
                    mirror(entry, out / entry.name, set())
                continue
            (out / entry.name).symlink_to(entry.resolve())

    mirror(layer.root, dest, set())
    for site in site_dirs:
        dists = scan_dists(site)
        gone = [d for d in dists if any(d.name == x.name and d.dist_info.parent == site for x in drop)]
        gone_tops = {t for d in gone for f in d.files if (t := _top(f))}
        kept_tops = {t for d in dists if d not in gone for f in d.files if (t := _top(f))}
        out = dest / site.relative_to(layer.root)
        mirror(site, out, skip=gone_tops - kept_tops)
        for d in gone:  # files of a dropped dist inside a dir it shares with another: unlink them one by one
            for rel in d.files:
                if _top(rel) in kept_tops:
                    _unlink_in_view(out, rel)
    if add:
        site_out = dest / site_dirs[0].relative_to(layer.root)
        for src in add:
            _merge_into(src, site_out)
    return Layer(layer.logical_id, dest, layer.architecture)


def _unlink_in_view(out: Path, rel: str) -> None:
    """Remove one file from a symlink view, turning the linked dirs on its way into real ones."""
    parts = Path(rel).parts
    cur = out
    for part in parts[:-1]:
        nxt = cur / part
        if nxt.is_symlink():
            linked = nxt.resolve()
            nxt.unlink()
            nxt.mkdir()
            for entry in linked.iterdir():
                (nxt / entry.name).symlink_to(entry.resolve())
        if not nxt.is_dir():
            return
        cur = nxt
    leaf = cur / parts[-1]
    if leaf.is_symlink() or leaf.is_file():
        leaf.unlink()


def host_wheels(layer: Layer, compiled: list[Dist], python: Path, wheel_cache: Path) -> list[Path]:
    """``pip install --target`` dirs of this host's wheel of each compiled distribution, same name and version."""
    host_arch = MACHINE_ALIASES.get(platform.machine().lower(), platform.machine())
    dirs = []
    for dist in compiled:
        cached = wheel_cache / f"{dist.name}-{dist.version}-{host_arch}"
        if not (cached / ".complete").exists():
            shutil.rmtree(cached, ignore_errors=True)
            proc = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                 "--only-binary=:all:", "--target", str(cached), f"{dist.name}=={dist.version}"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise SmokeError(
                    f"no {host_arch} wheel of {dist.name}=={dist.version} to stand in for the "
                    f"{layer.architecture} one in the import test:\n{proc.stderr.strip()}"
                )
            shutil.rmtree(cached / "bin", ignore_errors=True)
            (cached / ".complete").touch()
        dirs.append(cached)
    return dirs


def loadable_layers(
    layers: dict[str, Layer], python: Path, work: Path
) -> tuple[dict[str, list[Path]], dict[str, Layer], list[str], list[str]]:
    """What this host's python3.12 can import of each built layer: the layer itself, or a view of it with
    its compiled distributions swapped for this host's wheels (arm64 layer on an x86_64 host).

    Returns (sys.path dirs per layer, the layer or its view per layer, summary lines, failures); the
    failures are architecture problems of the built layer itself.
    """
    host_arch = MACHINE_ALIASES.get(platform.machine().lower(), platform.machine())
    dirs_for: dict[str, list[Path]] = {}
    views: dict[str, Layer] = dict(layers)
    summary: list[str] = []
    failures: list[str] = []
    for lid, layer in layers.items():
        compiled, problems = check_architecture(layer)
        size_mb = sum(p.stat().st_size for p in layer.root.rglob("*") if p.is_file()) / 2**20
        names = ", ".join(f"{d.name} {d.version} [{'/'.join(sorted(set(d.tags)))}]" for d in compiled)
        summary.append(
            f"{lid} built for {layer.architecture} ({size_mb:.0f} MB unzipped; compiled: {names or 'none'})"
        )
        failures += [f"{lid}: {p}" for p in problems]
        if layer.architecture == host_arch and sys.platform == "linux":
            dirs_for[lid] = layer.python_dirs
        else:
            added = host_wheels(layer, compiled, python, work / "wheels")
            swapped = layer_view(layer, work / lid, drop=compiled, add=added)
            dirs_for[lid] = swapped.python_dirs
            views[lid] = swapped
            summary.append(
                f"  this host is {host_arch}: handlers import a view of the built {lid} with "
                f"{', '.join(d.name for d in compiled) or 'nothing'} swapped for {host_arch} wheels "
                f"of the same versions; the {layer.architecture} binaries are checked by ELF header "
                f"and wheel tag instead"
            )
    return dirs_for, views, summary, failures


# --------------------------------------------------------------------------- the runtime's own packages


def runtime_packages(python: Path, dest_root: Path) -> Path:
    """boto3 and its dependencies only, at requirements-dev.txt's pin: what Lambda's runtime provides."""
    pin = RUNTIME_PROVIDED
    reqs = REPO_ROOT / "requirements-dev.txt"
    if reqs.is_file():
        for line in reqs.read_text().splitlines():
            if re.match(rf"{RUNTIME_PROVIDED}\s*==", line.strip()):
                pin = line.split("#")[0].strip()
    dest = dest_root / re.sub(r"[^\w.]+", "-", pin)
    if (dest / ".complete").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--only-binary=:all:", "--target", str(dest), pin],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SmokeError(f"could not install the runtime-provided {pin}:\n{proc.stderr.strip()}")
    shutil.rmtree(dest / "bin", ignore_errors=True)
    (dest / ".complete").touch()
    return dest


# --------------------------------------------------------------------------- the import itself


@dataclass
class ImportResult:
    function: str
    ok: bool
    error: str = ""
    missing: str | None = None
    seconds: float = 0.0
    sources: dict[str, int] = field(default_factory=dict)
    output: str = ""
    response: Any = None


def smoke_import(
    python: Path,
    code_dir: Path,
    layer_dirs: Iterable[Path],
    runtime_dir: Path,
    handler: str,
    env: dict[str, str],
    label: str = "",
    pycache: Path | None = None,
    event: Any = None,
) -> ImportResult:
    """Import ``handler`` in a fresh ``python -I -S`` with Lambda's sys.path and the given environment;
    given an ``event``, invoke it too (the response is in the result)."""
    layer_dirs = list(layer_dirs)
    pycache = pycache or Path(tempfile.gettempdir()) / "sundown-smoke-pycache"
    cfg: dict[str, Any] = {
        "handler": handler,
        "front": [str(code_dir), *map(str, layer_dirs)],
        "back": [str(runtime_dir)],
        "labels": {
            "function": str(code_dir) + os.sep,
            **{f"layer {_layer_name(d)}": str(d) + os.sep for d in layer_dirs},
            "runtime": str(runtime_dir) + os.sep,
        },
    }
    if event is not None:
        cfg["event"] = event
    try:
        proc = subprocess.run(
            # -I: no PYTHON* variables, no user site; -S: no site-packages of any venv. Bytecode goes to
            # a separate tree: a __pycache__ in the build dir would end up in the deployed zip.
            [str(python), "-I", "-S", "-X", f"pycache_prefix={pycache}", "-c", IMPORT_PROBE, json.dumps(cfg)],
            cwd=code_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=IMPORT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ImportResult(label, False, error=f"import did not finish within {IMPORT_TIMEOUT_S}s")
    output = (proc.stdout + proc.stderr).strip()
    result = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SMOKE-RESULT ")), None)
    if result is None:
        return ImportResult(label, False, error=f"interpreter exited {proc.returncode}", output=output)
    data = json.loads(result.removeprefix("SMOKE-RESULT "))
    return ImportResult(
        label,
        bool(data["ok"]) and proc.returncode == 0,
        error=data.get("error", ""),
        missing=data.get("missing"),
        seconds=data.get("seconds", 0.0),
        sources=data.get("from", {}),
        output=output,
        response=data.get("response"),
    )


def _layer_name(python_dir: Path) -> str:
    """SundownLayer for .../SundownLayer/python or .../SundownLayer/python/lib/python3.12/site-packages."""
    parts = python_dir.parts
    return parts[parts.index("python") - 1] if "python" in parts[1:] else python_dir.name


def explain(result: ImportResult, fn: Function) -> str:
    msg = f"{result.function}: cannot import handler {fn.handler!r} from {fn.code_dir}: {result.error}"
    if result.missing:
        top = result.missing.split(".")[0]
        msg += (
            f"\n  -> module {top!r} is not in the built function or its layers. Add the distribution that "
            f"provides it to the layer's requirements.txt (layers/sundown/requirements.txt) or the function's."
        )
    tail = "\n".join(result.output.splitlines()[-8:])
    return f"{msg}\n  ---- interpreter output (last lines) ----\n  " + tail.replace("\n", "\n  ")


def import_all(
    python: Path,
    functions: list[Function],
    layer_dirs_for: dict[str, list[Path]],
    layers: dict[str, Layer],
    runtime_dir: Path,
    home: Path,
) -> list[ImportResult]:
    def one(fn: Function) -> ImportResult:
        dirs = [d for lid in fn.layers for d in layer_dirs_for[lid]]
        env = lambda_env(fn, [layers[lid] for lid in fn.layers], runtime_dir, home)
        return smoke_import(
            python,
            fn.code_dir,
            dirs,
            runtime_dir,
            fn.handler,
            env,
            label=fn.logical_id,
            pycache=home / "pycache",
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(one, functions))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    ap.add_argument("--build-dir", type=Path, default=REPO_ROOT / ".aws-sam" / "build")
    ap.add_argument("--skip-build", action="store_true", help="smoke-test an existing build only")
    ap.add_argument("--python", help="the python3.12 to use (default: scripts/find-python312)")
    ap.add_argument(
        "--control-drop",
        default="pynamodb",
        help="distribution left out of a view of the layer for the negative control (default: pynamodb)",
    )
    args = ap.parse_args(argv)
    build_dir = args.build_dir.resolve()
    work = build_dir.parent / "smoke"
    work.mkdir(parents=True, exist_ok=True)

    python312 = find_python312(args.python or os.environ.get("PYTHON312") or None)
    python_dir = build_python_dir(python312, work)
    python = python_dir / "python3.12"
    print(f"python3.12 for sam build and the smoke test: {python} (-> {python.resolve()})")

    failures: list[str] = []
    summary: list[str] = []
    try:
        if not args.skip_build:
            seconds = run_sam_build(args.template.resolve(), build_dir, python_dir)
            summary.append(f"sam build: {seconds:.0f}s -> {build_dir}")
        _, layers, functions = read_build(build_dir)
        if not functions:
            raise SmokeError(f"no zip functions in {build_dir / 'template.yaml'}")

        layer_dirs_for, views, notes, problems = loadable_layers(layers, python, work)
        summary += notes
        failures += problems

        runtime_dir = runtime_packages(python, work / "lambda-runtime")
        summary.append(
            f"  provided by the Lambda runtime, last on sys.path: {runtime_dir.name} and its dependencies "
            f"({', '.join(sorted(d.name for d in scan_dists(runtime_dir)))})"
        )
        home = work / "home"
        home.mkdir(exist_ok=True)

        for fn in functions:
            if fn.runtime != "python3.12":
                failures.append(f"{fn.logical_id}: runtime {fn.runtime!r}, this check covers python3.12")
            for lid in fn.layers:
                if layers[lid].architecture != fn.architecture:
                    failures.append(
                        f"{fn.logical_id} is {fn.architecture} but its layer {lid} was built for "
                        f"{layers[lid].architecture}"
                    )
            for ext in fn.external_layers:
                summary.append(f"  note: {fn.logical_id} uses layer {ext!r}, not built here: not on its path")
            if any(
                elf_machine(p) not in (None, fn.architecture) for p in fn.code_dir.rglob("*") if p.is_file()
            ):
                failures.append(f"{fn.logical_id}: compiled code for the wrong architecture in {fn.code_dir}")

        results = import_all(python, functions, layer_dirs_for, layers, runtime_dir, home)
        fn_by_id = {fn.logical_id: fn for fn in functions}
        ok = [r for r in results if r.ok]
        failures += [explain(r, fn_by_id[r.function]) for r in results if not r.ok]
        if ok:
            summary.append(
                f"{len(ok)} of {len(results)} handlers import cleanly with python3.12 -I -S on Lambda's sys.path: "
                + ", ".join(f"{r.function} ({r.seconds:.1f}s)" for r in ok)
            )
            loaded = {label: max(r.sources.get(label, 0) for r in ok) for r in ok for label in r.sources}
            summary.append(
                "  modules loaded from (most in one handler): "
                + ", ".join(f"{label} {n}" for label, n in sorted(loaded.items()))
            )

        # Negative control: the same check must notice a distribution that is not there.
        summary.append(control(args.control_drop, python, functions, layers, views, runtime_dir, home, work))
    except SmokeError as exc:
        failures.append(str(exc))

    return report("build & smoke summary", summary, failures)


def report(title: str, summary: list[str], failures: list[str]) -> int:
    """Print the summary, then the failures; the exit status: 1 if any failed."""
    print(f"\n==== {title} ====")
    for line in summary:
        print(line)
    if failures:
        print(f"\nFAILED ({len(failures)}):", file=sys.stderr)
        for failure in failures:
            print(f"- {failure}", file=sys.stderr)
        return 1
    print("OK")
    return 0


def control(
    drop: str,
    python: Path,
    functions: list[Function],
    layers: dict[str, Layer],
    views: dict[str, Layer],
    runtime_dir: Path,
    home: Path,
    work: Path,
) -> str:
    """Import every handler again with one distribution missing from its layer: one must fail, by name."""
    # The requested distribution, else the layer's own top-level requirements, in order.
    wanted = [drop] + [
        re.split(r"[\s\[<>=!~;]", line.strip(), maxsplit=1)[0]
        for view in views.values()
        for site in view.python_dirs
        if (site / "requirements.txt").is_file()
        for line in (site / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    ]
    found = next(
        (
            (lid, view, dist)
            for key in (_norm(w) for w in wanted)
            for lid, view in views.items()
            for site in view.python_dirs
            for dist in scan_dists(site)
            if _norm(dist.name) == key
        ),
        None,
    )
    if found is None:
        raise SmokeError(f"negative control: none of {', '.join(wanted)} is installed in a built layer")
    lid, view, victim = found
    broken = layer_view(view, work / f"control-without-{_norm(victim.name)}", drop=[victim])
    dirs_for = {other: v.python_dirs for other, v in views.items()}
    dirs_for[lid] = broken.python_dirs
    results = import_all(python, functions, dirs_for, layers, runtime_dir, home)
    caught = [r for r in results if not r.ok and r.missing]
    if not caught:
        raise SmokeError(
            f"negative control: with {victim.name} removed from {lid}, no handler failed to import "
            "with 'No module named': the smoke test cannot see a missing dependency"
        )
    shutil.rmtree(broken.root)
    modules = sorted({r.missing for r in caught if r.missing})
    return (
        f"negative control: without {victim.name} in {lid}, {len(caught)} of {len(results)} handlers fail "
        f"as they should (No module named {', '.join(repr(m) for m in modules)}: "
        f"{', '.join(r.function for r in caught)})"
    )


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


if __name__ == "__main__":
    sys.exit(main())
