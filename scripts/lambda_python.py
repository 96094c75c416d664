"""The Lambda runtime's Python version, read from its one setting: lambda-python-version.txt.

The Makefile (venv, preflight), serverless.yml (``provider.runtime``, through
serverless_plugins/platform.js), the bytecode shipped in the zip, the real-runtime tests and
the benchmark all take the version from that file, so moving to another runtime is a one-line
change there (docs/deployment.md: The Python version).
"""

from __future__ import annotations

from pathlib import Path

VERSION_FILE = Path(__file__).resolve().parent.parent / "lambda-python-version.txt"


def read_version(version_file: Path = VERSION_FILE) -> str:
    """The ``MAJOR.MINOR`` in the file; anything else is refused with the file's name."""
    text = version_file.read_text(encoding="utf-8").strip()
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise ValueError(f"{version_file}: expected MAJOR.MINOR (such as 3.13), got {text!r}")
    return text


VERSION = read_version()
# What AWS calls the runtime (serverless.yml provider.runtime, AWS_EXECUTION_ENV).
RUNTIME = f"python{VERSION}"
# sys.implementation.cache_tag of that interpreter: the name of the .pyc files it loads.
CACHE_TAG = "cpython-" + VERSION.replace(".", "")
