"""scripts/build_and_smoke.py: the checks `make build` runs on the built artifacts, on small synthetic ones.

`make build` itself runs the real `sam build` and the smoke test on it (including a negative control);
these tests pin down the pieces so that a change to the script cannot quietly make it blind.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "build_and_smoke", REPO_ROOT / "scripts" / "build_and_smoke.py"
)
assert _spec and _spec.loader
bs: Any = importlib.util.module_from_spec(_spec)
sys.modules["build_and_smoke"] = bs  # dataclasses look their module up while the class is created
_spec.loader.exec_module(bs)

PY = Path(sys.executable)  # the test venv's 3.12: with -I -S its own site-packages must stay invisible


def _install(site: Path, name: str, files: dict[str, str], version: str = "1.0") -> None:
    """A fake installed distribution: its files plus a .dist-info with METADATA, WHEEL and RECORD."""
    info = f"{name}-{version}.dist-info"
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (site / info).mkdir(parents=True)
    (site / info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n"
    )
    (site / info / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    record = [*files, f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD"]
    (site / info / "RECORD").write_text("".join(f"{r},,\n" for r in record))


@pytest.fixture
def built(tmp_path: Path) -> dict[str, Any]:
    """A built function whose handler needs `fakedep` (from the layer) and boto3-like `fakeboto` (runtime)."""
    fn = tmp_path / "build" / "Fn"
    fn.mkdir(parents=True)
    (fn / "app.py").write_text(
        "import fakedep, ns.a\n"
        "import fakeboto\n"
        "def lambda_handler(event, context):\n"
        "    return fakedep.VALUE\n"
    )
    layer = bs.Layer("Lyr", tmp_path / "build" / "Lyr", "x86_64")
    site = layer.root / "python"
    _install(site, "fakedep", {"fakedep/__init__.py": "VALUE = 1\n"})
    # Two distributions sharing the namespace directory ns/.
    _install(site, "ns-a", {"ns/a.py": "A = 1\n"})
    _install(site, "ns-b", {"ns/b.py": "B = 1\n"})
    runtime = tmp_path / "runtime"
    (runtime / "fakeboto").mkdir(parents=True)
    (runtime / "fakeboto" / "__init__.py").write_text("")
    return {"fn": fn, "layer": layer, "runtime": runtime, "home": tmp_path}


def _import(built: dict[str, Any], layer: Any, handler: str = "app.lambda_handler") -> Any:
    return bs.smoke_import(
        PY, built["fn"], layer.python_dirs, built["runtime"], handler, {"PATH": "/usr/bin:/bin"}, label="Fn"
    )


def test_handler_imports_with_layer_and_runtime_on_path(built: dict[str, Any]) -> None:
    result = _import(built, built["layer"])
    assert result.ok, result.output
    assert result.sources["function"] == 1


def test_a_dependency_missing_from_the_layer_fails_by_name(built: dict[str, Any], tmp_path: Path) -> None:
    layer = built["layer"]
    fakedep = next(d for d in bs.scan_dists(layer.root / "python") if d.name == "fakedep")
    broken = bs.layer_view(layer, tmp_path / "view", drop=[fakedep])
    result = _import(built, broken)
    assert not result.ok
    assert result.missing == "fakedep"
    assert "No module named 'fakedep'" in result.error
    # The view is symlinks: the built layer itself is untouched.
    assert (layer.root / "python" / "fakedep" / "__init__.py").is_file()
    assert _import(built, layer).ok


def test_dropping_one_of_two_dists_sharing_a_namespace_dir_keeps_the_other(
    built: dict[str, Any], tmp_path: Path
) -> None:
    layer = built["layer"]
    ns_b = next(d for d in bs.scan_dists(layer.root / "python") if d.name == "ns-b")
    view = bs.layer_view(layer, tmp_path / "view", drop=[ns_b])
    assert (view.root / "python" / "ns" / "a.py").exists()
    assert not (view.root / "python" / "ns" / "b.py").exists()
    assert (layer.root / "python" / "ns" / "b.py").exists()
    assert _import(built, view).ok
    ns_a = next(d for d in bs.scan_dists(layer.root / "python") if d.name == "ns-a")
    result = _import(built, bs.layer_view(layer, tmp_path / "view2", drop=[ns_a]))
    assert result.missing == "ns.a"


def test_the_test_venvs_site_packages_are_invisible(built: dict[str, Any]) -> None:
    """pytest is installed where this test runs; the smoke interpreter must not see it (nor the venv's)."""
    (built["fn"] / "app.py").write_text("import pytest\nlambda_handler = print\n")
    result = _import(built, built["layer"])
    assert not result.ok
    assert result.missing == "pytest"


def test_a_handler_that_is_not_there_fails(built: dict[str, Any]) -> None:
    result = _import(built, built["layer"], handler="app.no_such_handler")
    assert not result.ok
    assert "AttributeError" in result.error


def test_an_import_error_inside_the_layer_fails(built: dict[str, Any]) -> None:
    (built["layer"].root / "python" / "fakedep" / "__init__.py").write_text("raise RuntimeError('boom')\n")
    result = _import(built, built["layer"])
    assert not result.ok
    assert result.missing is None
    assert "RuntimeError: boom" in result.error


def _elf(machine: int) -> bytes:
    return b"\x7fELF" + bytes([2, 1, 1]) + bytes(11) + struct.pack("<H", machine) + bytes(40)


def test_elf_machine(tmp_path: Path) -> None:
    for machine, name in [(183, "arm64"), (62, "x86_64"), (40, "e_machine=40")]:
        (tmp_path / "x.so").write_bytes(_elf(machine))
        assert bs.elf_machine(tmp_path / "x.so") == name
    (tmp_path / "x.py").write_text("print('not elf')\n")
    assert bs.elf_machine(tmp_path / "x.py") is None


@pytest.mark.parametrize(
    ("tag", "arch", "ok"),
    [
        ("py3-none-any", "arm64", True),
        ("cp312-cp312-manylinux_2_17_aarch64", "arm64", True),
        ("cp312-cp312-manylinux2014_aarch64", "arm64", True),
        ("cp38-abi3-manylinux_2_28_aarch64", "arm64", True),
        ("cp312-cp312-manylinux_2_17_x86_64", "arm64", False),  # wrong architecture
        ("cp311-cp311-manylinux_2_17_aarch64", "arm64", False),  # wrong CPython
        ("cp312-cp312-musllinux_1_2_aarch64", "arm64", False),  # Lambda is glibc
        ("cp312-cp312-manylinux_2_39_aarch64", "arm64", False),  # newer glibc than Amazon Linux 2023
        ("cp312-cp312-manylinux_2_17_x86_64", "x86_64", True),
    ],
)
def test_wheel_tags(tag: str, arch: str, ok: bool) -> None:
    assert (bs.tag_problem(tag, arch) is None) is ok


def test_check_architecture_flags_a_wrong_binary(tmp_path: Path) -> None:
    layer = bs.Layer("Lyr", tmp_path / "Lyr", "arm64")
    site = layer.root / "python"
    _install(site, "native", {"native/__init__.py": ""})
    (site / "native" / "_ext.cpython-312-aarch64-linux-gnu.so").write_bytes(_elf(183))
    (site / "native-1.0.dist-info" / "WHEEL").write_text(
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_aarch64\n"
    )
    record = site / "native-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "native/_ext.cpython-312-aarch64-linux-gnu.so,,\n")
    compiled, problems = bs.check_architecture(layer)
    assert [d.name for d in compiled] == ["native"]
    assert problems == []

    (site / "native" / "_ext.cpython-312-aarch64-linux-gnu.so").write_bytes(_elf(62))
    (site / "stray.so").write_bytes(_elf(183))
    _, problems = bs.check_architecture(layer)
    assert any("ELF for x86_64, layer is arm64" in p for p in problems)
    assert any("stray.so: compiled file that belongs to no installed distribution" in p for p in problems)


def test_read_build_merges_globals_and_fills_dummy_environment(tmp_path: Path) -> None:
    build = tmp_path / ".aws-sam" / "build"
    (build / "Lyr" / "python").mkdir(parents=True)
    (build / "Fn").mkdir()
    (build / "template.yaml").write_text(
        """
Parameters:
  Sender: {Type: String, Default: a@example.com}
Globals:
  Function:
    Runtime: python3.12
    Architectures: [arm64]
    Layers: [{Ref: Lyr}]
    Environment:
      Variables:
        SENDER: {Ref: Sender}
        QUEUE: {Ref: Q}
        MAP: {"Fn::Sub": '{"t": "${T}", "p": "x/{id}/", "a": "${T.Arn}"}'}
Resources:
  Lyr: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: Lyr, CompatibleArchitectures: [arm64]}}
  Q: {Type: AWS::SQS::Queue}
  T: {Type: AWS::DynamoDB::Table}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: Fn
      Handler: app.handler
      MemorySize: 512
      Layers: [arn:aws:lambda:us-east-1:123456789012:layer:other:1]
      Environment: {Variables: {OWN: !Ref T, GONE: !Ref AWS::NoValue}}
"""
    )
    _, layers, functions = bs.read_build(build)
    assert layers["Lyr"].architecture == "arm64"
    (fn,) = functions
    assert (fn.runtime, fn.architecture, fn.memory, fn.handler) == ("python3.12", "arm64", 512, "app.handler")
    assert fn.layers == ["Lyr"]
    assert fn.external_layers == ["arn:aws:lambda:us-east-1:123456789012:layer:other:1"]
    assert fn.env["SENDER"] == "a@example.com"
    assert fn.env["QUEUE"].startswith("https://sqs.")
    assert fn.env["OWN"] == "sundown-T"
    assert "GONE" not in fn.env
    assert (
        fn.env["MAP"]
        == '{"t": "sundown-T", "p": "x/{id}/", "a": "arn:aws:lambda:us-east-1:123456789012:dummy:sundown-T"}'
    )
