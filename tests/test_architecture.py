"""The architecture param: `make package PARAMS="architecture=arm64"` builds a zip for Graviton.

Every native library in the zip must be an ELF for the function's CPU (a wrong wheel would only
fail on AWS, at import time), the template must say so, and the bytecode must be there as for
x86_64 (it does not depend on the CPU). Reads the ELF header: e_ident class and e_machine.
"""

from __future__ import annotations

import zipfile

import pytest

from scripts.lambda_python import CACHE_TAG, RUNTIME
from tests.packaging import packaged

pytestmark = pytest.mark.slow

ELF_MAGIC = b"\x7fELF"
ELF_64_BIT = 2
ELF_LITTLE_ENDIAN = 1
MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}  # EM_X86_64, EM_AARCH64


def elf_machine(header: bytes) -> int:
    assert header[:4] == ELF_MAGIC, "not an ELF file"
    assert header[4] == ELF_64_BIT and header[5] == ELF_LITTLE_ENDIAN
    return int.from_bytes(header[18:20], "little")


def test_elf_machine_reads_the_header() -> None:
    header = (
        ELF_MAGIC
        + bytes([ELF_64_BIT, ELF_LITTLE_ENDIAN])
        + bytes(12)
        + (0xB7).to_bytes(2, "little")
    )
    assert elf_machine(header) == MACHINES["arm64"]
    with pytest.raises(AssertionError):
        elf_machine(b"MZ" + bytes(30))


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_every_native_library_is_built_for_the_functions_cpu(architecture: str) -> None:
    build = packaged(*(() if architecture == "x86_64" else (f"architecture={architecture}",)))
    [function] = build.resources("AWS::Lambda::Function").values()
    assert function["Properties"]["Architectures"] == [architecture]
    assert function["Properties"]["Runtime"] == RUNTIME
    with zipfile.ZipFile(build.zip_path) as archive:
        libraries = [n for n in archive.namelist() if n.endswith(".so") or ".so." in n]
        machines = {name: elf_machine(archive.read(name)[:20]) for name in libraries}
        names = archive.namelist()
    # markupsafe's speedups, cffi's backend, argon2's bindings (aarch64: manylinux_2_26/_2_28).
    assert len(libraries) >= 3, libraries
    assert machines == dict.fromkeys(libraries, MACHINES[architecture])
    assert any(name.startswith("_argon2_cffi_bindings/") for name in libraries)
    # Bytecode for the runtime's Python, whatever the CPU.
    assert f"__pycache__/handler.{CACHE_TAG}.pyc" in names
    assert "flask/app.pyc" in names
