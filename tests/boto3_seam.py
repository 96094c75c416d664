"""boto3's DynamoDB client behind the store's seam (app/store/dynamodb_client.DynamoDBJson).

What a project copying this one would write to use boto3 instead of the small client
(docs/performance.md shows it): an operation name and its JSON in, the JSON answer or the
same typed errors out. tests/test_store.py runs the store contract through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.store.dynamodb_client import (
    REFUSED_CODES,
    ConditionalCheckFailed,
    DynamoDBError,
    DynamoDBRefused,
    DynamoDBUnavailable,
    error_for,
)


class Boto3DynamoDB:
    def __init__(self, client: Any) -> None:
        self.client = client  # boto3.client("dynamodb", config=Config(retries=...))

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
        try:
            answer = dict(method(**request))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            body = {**exc.response, "__type": code, "message": message}
            if code == "ConditionalCheckFailedException":
                raise ConditionalCheckFailed(code, message, body) from exc
            if code in REFUSED_CODES:
                raise DynamoDBRefused(code, message, body) from exc
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            if not isinstance(error_for(status, body), DynamoDBError):  # retryable: spent
                raise DynamoDBUnavailable(code, message, body) from exc
            raise DynamoDBError(code, message, body) from exc
        except BotoCoreError as exc:  # connection failures and timeouts, retries spent
            raise DynamoDBUnavailable(type(exc).__name__, str(exc)) from exc
        answer.pop("ResponseMetadata", None)
        return answer

    def close(self) -> None:
        self.client.close()
