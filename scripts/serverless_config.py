"""serverless.yml read as data: one loader for scripts/ and tests/.

Short-form CloudFormation intrinsics (``!Ref X``, ``!GetAtt A.B``, ``!Sub ...``) are read
as their long forms (``{"Ref": "X"}``, ``{"Fn::GetAtt": ["A", "B"]}``), so the file loads
with PyYAML's safe loader and compares with what the framework compiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SERVERLESS_YML = REPO / "serverless.yml"
TABLE_RESOURCE = "UsersTable"


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads short-form intrinsics as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def serverless_config(path: Path = SERVERLESS_YML) -> dict[str, Any]:
    with open(path, encoding="utf-8") as file:
        return yaml.load(file, Loader=CloudFormationLoader)  # a SafeLoader subclass


def resource(name: str, path: Path = SERVERLESS_YML) -> dict[str, Any]:
    """One of serverless.yml's ``resources.Resources``."""
    return serverless_config(path)["resources"]["Resources"][name]


def table_definition(path: Path = SERVERLESS_YML) -> dict[str, Any]:
    """CreateTable arguments for the users table as serverless.yml declares it."""
    properties = resource(TABLE_RESOURCE, path)["Properties"]
    return {key: properties[key] for key in ("AttributeDefinitions", "KeySchema", "BillingMode")}
