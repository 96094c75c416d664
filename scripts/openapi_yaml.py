"""Write openapi.yaml from app/openapi.py's document (`make openapi`); tests/test_openapi.py
fails when the committed file differs from what this renders.

    .venv/bin/python -m scripts.openapi_yaml          # rewrite openapi.yaml
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
OPENAPI_YAML = REPO / "openapi.yaml"
HEADER = "# Generated from app/openapi.py by `make openapi`; do not edit by hand.\n"


class Dumper(yaml.SafeDumper):
    """Writes a value used twice in the document out twice, not as an anchor and alias."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def render() -> str:
    from app.openapi import document

    # Key order as written in app/openapi.py; non-ASCII characters as YAML escapes.
    return HEADER + yaml.dump(
        document(), Dumper=Dumper, sort_keys=False, allow_unicode=False, width=2**16
    )


def main() -> None:
    OPENAPI_YAML.write_text(render(), encoding="utf-8")
    print(f"wrote {OPENAPI_YAML.relative_to(REPO)}")


if __name__ == "__main__":
    main()
