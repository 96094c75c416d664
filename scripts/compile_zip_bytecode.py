"""Rewrite a Lambda deployment zip so that every module ships bytecode the runtime uses.

Lambda's code directory is read-only, so a module without usable bytecode is recompiled on every
cold start. Timestamp-based .pyc files are unreliable in a zip (2-second DOS times, time zones),
so this has ``py_compile`` write PEP 552 hash-based bytecode with check_source off
("unchecked-hash"): the runtime loads it without looking at the source's timestamp or hash.
It compiles under ``-X no_debug_ranges`` (re-running itself with the flag when it is missing):
no column positions in the code objects, a smaller zip, nothing lost but the carets under a
traceback's failing expression.

- Our code (``handler.py``, ``app/``, ``lambda_edge/``) keeps its sources and gets
  ``__pycache__/<name>.cpython-3XY.pyc`` next to them.
- Dependencies get one of two layouts (``--deps-layout``):
  ``sourceless`` (default): ``<name>.pyc`` replaces ``<name>.py`` (PEP 3147 "sourceless"
  import). The bytecode is all the runtime reads anyway; dropping the sources keeps the zip
  small. Tracebacks through dependencies show file and line, not text.
  ``pycache``: sources plus ``__pycache__`` bytecode, like our code.

It also drops stale ``.pyc``/``.pyo`` and ``__pycache__`` entries, ``bin/`` (console scripts pip
installs next to the dependencies), cffi's and pycparser's build-time packages,
serverless-python-requirements' bookkeeping files and directory entries, and writes sorted
entries with fixed timestamps, so the same inputs give the same zip bytes. Run it with the
runtime's interpreter (lambda-python-version.txt, through scripts/lambda_python.py); it refuses
any other version.

Usage: compile_zip_bytecode.py [--deps-layout sourceless|pycache] ZIP [ZIP ...]
"""

from __future__ import annotations

import argparse
import os
import py_compile
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

# Run as a script, this file's directory (scripts/) is on sys.path.
from lambda_python import CACHE_TAG as TARGET_CACHE_TAG

# Where Lambda extracts the code; recorded as the code objects' file name.
TASK_ROOT = "/var/task"
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Our own code: keeps its sources, and must compile.
OWN_CODE = ("handler.py", "app/", "lambda_edge/")
# bin/: console scripts pip installs. cffi/ and pycparser/: cffi's build-time half (compiling
# bindings from C declarations); argon2's prebuilt bindings need only the _cffi_backend
# extension module at run time. Their dist-info (licences included) stays.
DROPPED_PREFIXES = ("bin/", "cffi/", "pycparser/")
DROPPED_NAMES = frozenset({".completed_requirements", "requirements.txt"})
DEPS_LAYOUTS = ("sourceless", "pycache")


def is_own_code(name: str) -> bool:
    return name.startswith(OWN_CODE)


def pycache_name(source_name: str) -> str:
    directory, _, filename = source_name.rpartition("/")
    cached = f"__pycache__/{filename.removesuffix('.py')}.{TARGET_CACHE_TAG}.pyc"
    return f"{directory}/{cached}" if directory else cached


def unchecked_hash_pyc(source: bytes, source_name: str, scratch: Path) -> bytes:
    """py_compile's unchecked-hash bytecode of ``source``, naming /var/task/<source_name>
    in tracebacks. Raises SyntaxError or ValueError when it does not compile."""
    source_path, pyc_path = scratch / "module.py", scratch / "module.pyc"
    source_path.write_bytes(source)
    try:
        py_compile.compile(
            str(source_path),
            cfile=str(pyc_path),
            dfile=f"{TASK_ROOT}/{source_name}",
            doraise=True,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError as error:
        raise ValueError(error.msg) from error
    return pyc_path.read_bytes()


def is_dropped(name: str) -> bool:
    return (
        name.endswith("/")
        or name.endswith((".pyc", ".pyo"))
        or "__pycache__/" in name
        or name.startswith(DROPPED_PREFIXES)
        or name in DROPPED_NAMES
    )


def entry_info(name: str, original: zipfile.ZipInfo | None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
    info.create_system = 3  # Unix, so that external_attr carries permissions.
    executable = original is not None and (original.external_attr >> 16) & 0o111
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def compile_entries(
    contents: dict[str, bytes], deps_layout: str
) -> tuple[dict[str, bytes], list[str]]:
    """Return the zip's new entries and the dependency sources that did not compile."""
    entries: dict[str, bytes] = {}
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bytecode-") as scratch:
        for name, data in contents.items():
            add_compiled_entry(name, data, deps_layout, Path(scratch), entries, skipped)
    return entries, skipped


def add_compiled_entry(
    name: str,
    data: bytes,
    deps_layout: str,
    scratch: Path,
    entries: dict[str, bytes],
    skipped: list[str],
) -> None:
    """Add one zip entry to ``entries``: as it is, or with its bytecode."""
    if not name.endswith(".py"):
        entries[name] = data
        return
    try:
        pyc = unchecked_hash_pyc(data, name, scratch)
    except (SyntaxError, ValueError) as error:
        if is_own_code(name):
            raise SystemExit(f"error: {name} does not compile: {error}") from error
        skipped.append(f"{name}: {error}")
        entries[name] = data
        return
    if is_own_code(name) or deps_layout == "pycache":
        entries[name] = data
        entries[pycache_name(name)] = pyc
    else:
        entries[name + "c"] = pyc


def write_zip(
    zip_path: Path, entries: dict[str, bytes], originals: dict[str, zipfile.ZipInfo]
) -> None:
    mode = stat.S_IMODE(zip_path.stat().st_mode)
    handle, temp_name = tempfile.mkstemp(dir=zip_path.parent, suffix=".zip.tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(temp_name, "w", compresslevel=9) as archive:
            for name in sorted(entries):
                archive.writestr(entry_info(name, originals.get(name)), entries[name])
        os.chmod(temp_name, mode)
        os.replace(temp_name, zip_path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def rewrite(zip_path: Path, deps_layout: str = "sourceless") -> tuple[int, int, list[str]]:
    """Rewrite zip_path in place; return (entries written, .pyc among them, skipped sources)."""
    with zipfile.ZipFile(zip_path) as archive:
        originals = {info.filename: info for info in archive.infolist()}
        contents = {
            name: archive.read(info) for name, info in originals.items() if not is_dropped(name)
        }
    entries, skipped = compile_entries(contents, deps_layout)
    write_zip(zip_path, entries, originals)
    return len(entries), sum(name.endswith(".pyc") for name in entries), skipped


def main(argv: Iterable[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if "no_debug_ranges" not in sys._xoptions:  # the flag governs compile() process-wide
        command = [sys.executable, "-X", "no_debug_ranges", str(Path(__file__).resolve())]
        return subprocess.run([*command, *arguments], check=False).returncode
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deps-layout", choices=DEPS_LAYOUTS, default="sourceless")
    parser.add_argument("zips", nargs="+", type=Path)
    args = parser.parse_args(arguments)
    if sys.implementation.cache_tag != TARGET_CACHE_TAG:
        print(
            f"error: bytecode must be compiled by {TARGET_CACHE_TAG} (the Lambda runtime), "
            f"not {sys.implementation.cache_tag} ({sys.executable})",
            file=sys.stderr,
        )
        return 2
    for zip_path in args.zips:
        count, pycs, skipped = rewrite(zip_path, args.deps_layout)
        for line in skipped:
            print(f"warning: no bytecode for {line}", file=sys.stderr)
        size = zip_path.stat().st_size
        print(
            f"bytecode: {zip_path.name}: {count} entries, {pycs} unchecked-hash "
            f"{TARGET_CACHE_TAG} .pyc (dependencies: {args.deps_layout}), {size / 1024:.0f} KiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
