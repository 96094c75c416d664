"""For moto's server (``python -m tests.moto_server -H 127.0.0.1 -p PORT``): the pieces of
CloudFormation that osls's SnapStart template needs and moto 5.2 lacks, each done through moto's
own Lambda backend, as CloudFormation does through Lambda's API:
- the AWS::Lambda::Alias resource (created, moved to another version, deleted);
- ``Fn::GetAtt <version>.Version``;
- a new AWS::Lambda::Version publishes a new version: osls names each after a hash of the code
  and configuration, so a new one means a changed function, but moto applies a stack update's
  change to the function only after creating the new resources, and its PublishVersion (as
  Lambda's) returns the previous version when nothing changed.
Everything else is moto's, unchanged.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaVersion, lambda_backends
from moto.core.common_models import CloudFormationModel


class LambdaAliasResource(CloudFormationModel):
    def __init__(self, arn: str, function_name: str, name: str) -> None:
        self.arn = arn
        self.function_name = function_name
        self.name = name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Alias"

    @property
    def physical_resource_id(self) -> str:
        return self.arn  # Ref of an alias is its ARN

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaAliasResource:
        properties = cloudformation_json["Properties"]
        alias = lambda_backends[account_id][region_name].create_alias(
            name=properties["Name"],
            function_name=properties["FunctionName"],
            function_version=str(properties["FunctionVersion"]),
            description=properties.get("Description", ""),
            routing_config=properties.get("RoutingConfig"),  # type: ignore[arg-type]
        )
        return cls(alias.arn, properties["FunctionName"], properties["Name"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: LambdaAliasResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaAliasResource:
        properties = cloudformation_json["Properties"]
        alias = lambda_backends[account_id][region_name].update_alias(
            name=properties["Name"],
            function_name=properties["FunctionName"],
            function_version=str(properties["FunctionVersion"]),
            description=properties.get("Description", ""),
            routing_config=properties.get("RoutingConfig"),  # type: ignore[arg-type]
        )
        return cls(alias.arn, properties["FunctionName"], properties["Name"])

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        properties = cloudformation_json["Properties"]
        lambda_backends[account_id][region_name].delete_alias(
            properties["Name"], properties["FunctionName"]
        )


def version_attribute(self: LambdaVersion, attribute_name: str) -> str:
    if attribute_name == "Version":
        return str(self.version)
    raise NotImplementedError(attribute_name)


LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr == "Version")  # type: ignore[assignment]
LambdaVersion.get_cfn_attribute = version_attribute  # type: ignore[method-assign]


_create_version = LambdaVersion.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def create_version(
    cls: type[LambdaVersion],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> LambdaVersion:
    # osls names each AWS::Lambda::Version after a hash of the code and configuration, so a new
    # one means a changed function; moto applies the change after creating new resources.
    function_name = cloudformation_json["Properties"]["FunctionName"]
    lambda_backends[account_id][region_name].get_function(
        function_name
    ).code_or_config_updated = True
    return _create_version(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )


LambdaVersion.create_from_cloudformation_json = classmethod(create_version)  # type: ignore[assignment]
