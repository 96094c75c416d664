"""Real-shaped Lambda events for each way AWS invokes the function, and readers for
the responses, so one HttpRequest can travel through any channel.

Shapes follow the AWS documentation and are checked against Powertools' parser
models (see ``assert_real_shape``), so they cannot drift from what AWS sends.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

from lambda_edge import EVENT_KINDS, EventKind
from lambda_edge.api_gateway import OWN_ROUTES
from tests.http_types import HttpRequest, HttpResponse

__all__ = ["EVENT_KINDS", "EventKind"]

REST_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
HTTP_API_HOST = "xyz789hijk.execute-api.us-east-1.amazonaws.com"
FUNCTION_URL_HOST = "q2w3e4r5t6y7u8i9o0p1a2s3d4f5g6h7.lambda-url.us-east-1.on.aws"
ALB_HOST = "my-alb-1234567890.us-east-1.elb.amazonaws.com"
LATTICE_HOST = "user-api-0a40eebed65f8d69c.7d67968.vpc-lattice-svcs.us-east-1.on.aws"
LATTICE_ARN = "arn:aws:vpc-lattice:us-east-1:123456789012"
CLIENT_IP = "203.0.113.7"
TARGET_GROUP_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-api/0123456789abcdef"
)

# Content types API Gateway v2 and function URLs pass as text; everything else
# (including form posts) arrives base64-encoded.
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def body_fields(request: HttpRequest, force_base64: bool) -> dict[str, Any]:
    if not request.body:
        return {"body": None, "isBase64Encoded": False}
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        force_base64 = True  # a JSON event carries text; AWS base64-encodes other bytes
    if force_base64:
        return {"body": base64.b64encode(request.body).decode(), "isBase64Encoded": True}
    return {"body": text, "isBase64Encoded": False}


def grouped(pairs: tuple[tuple[str, str], ...], lower: bool = False) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key.lower() if lower else key, []).append(value)
    return out


def standard_headers(request: HttpRequest, host: str) -> tuple[tuple[str, str], ...]:
    added = [
        ("Host", host),
        ("X-Forwarded-For", CLIENT_IP),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]
    if request.body and request.header("Content-Length") is None:
        added.append(("Content-Length", str(len(request.body))))
    names = {k.lower() for k, _ in request.headers}
    return request.headers + tuple((k, v) for k, v in added if k.lower() not in names)


def now_ms() -> int:
    return int(time.time() * 1000)


def own_route_path(request: HttpRequest) -> str | None:
    """The path of the API Gateway route of its own that this request takes, if any (the
    template's routes: tests/test_template.py)."""
    return request.path if (request.method, request.path) in OWN_ROUTES else None


def rest_v1_event(
    request: HttpRequest, *, base64_body: bool = False, stage: str = "prod", host: str = REST_HOST
) -> dict[str, Any]:
    headers = grouped(standard_headers(request, host))
    query = grouped(request.query)
    request_id = str(uuid.uuid4())
    resource = own_route_path(request) or ("/" if request.path == "/" else "/{proxy+}")
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": request.path.lstrip("/")} if request.path != "/" else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": host.split(".")[0],
            "resourceId": "a1b2c3",
            "resourcePath": resource,
            "httpMethod": request.method,
            "extendedRequestId": "AbCdEfGhIjKlMnO=",
            "requestTime": "24/Nov/2026:19:40:21 +0000",
            "path": f"/{stage}{request.path}",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": now_ms(),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": CLIENT_IP,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": request.header("User-Agent") or "curl/8.5.0",
                "user": None,
            },
            "domainName": host,
        },
        **body_fields(request, base64_body),
    }


def v2_event(
    request: HttpRequest,
    *,
    base64_body: bool | None,
    host: str,
    stage: str = "$default",
    route_key: str = "$default",
) -> dict[str, Any]:
    headers = grouped(standard_headers(request, host), lower=True)
    cookies = headers.pop("cookie", [])
    raw_path = request.path if stage == "$default" else f"/{stage}{request.path}"
    if base64_body is None:  # what AWS itself does: text types plain, others base64
        content_type = request.header("Content-Type") or ""
        base64_body = not content_type.startswith(TEXT_TYPES)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": urlencode(request.query, quote_via=quote),
        "headers": {k: ",".join(v) for k, v in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": CLIENT_IP,
                "userAgent": request.header("User-Agent") or "curl/8.5.0",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": stage,
            "time": "24/Nov/2026:19:40:21 +0000",
            "timeEpoch": now_ms(),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = [c.strip() for value in cookies for c in value.split(";")]
    if request.query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in grouped(request.query).items()}
    if request.body:  # HTTP API omits body on requests without one
        event.update(body_fields(request, base64_body))
    return event


def http_api_v2_event(
    request: HttpRequest,
    *,
    base64_body: bool | None = None,
    stage: str = "$default",
    host: str = HTTP_API_HOST,
) -> dict[str, Any]:
    route_key = "$default" if stage == "$default" else "ANY /{proxy+}"
    if own_route_path(request):
        route_key = f"{request.method} {request.path}"
    return v2_event(request, base64_body=base64_body, host=host, stage=stage, route_key=route_key)


def function_url_event(request: HttpRequest, *, base64_body: bool | None = None) -> dict[str, Any]:
    # The v2 shape on the lambda-url host; AuthType NONE sends no authorizer.
    return v2_event(request, base64_body=base64_body, host=FUNCTION_URL_HOST)


def alb_event(
    request: HttpRequest, *, base64_body: bool = False, multi_value: bool = False
) -> dict[str, Any]:
    headers = grouped(standard_headers(request, ALB_HOST), lower=True)
    # ALB forwards the query string as the client sent it: still URL-encoded.
    query = grouped(tuple((quote(k, safe=""), quote(v, safe="")) for k, v in request.query))
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP_ARN}},
        "httpMethod": request.method,
        "path": request.path,
        **body_fields(request, base64_body),
    }
    if event["body"] is None:
        event["body"] = ""  # ALB sends an empty string, never null
    if multi_value:
        event["multiValueQueryStringParameters"] = query
        event["multiValueHeaders"] = headers
    else:
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
        event["headers"] = {k: v[-1] for k, v in headers.items()}
    return event


def join_values(name: str, values: list[str]) -> str:
    return ("; " if name.lower() == "cookie" else ",").join(values)


def lattice_v1_event(request: HttpRequest, *, base64_body: bool = False) -> dict[str, Any]:
    """Version 1: snake_case fields, one string per header (repeats comma-joined) and per
    query name (the last, as the shape has no room for more)."""
    headers = grouped(standard_headers(request, LATTICE_HOST), lower=True)
    body = body_fields(request, base64_body)
    return {
        "raw_path": request.path,
        "method": request.method,
        "headers": {k: join_values(k, v) for k, v in headers.items()},
        "query_string_parameters": {k: v[-1] for k, v in grouped(request.query).items()},
        "body": body["body"] or "",
        "is_base64_encoded": body["isBase64Encoded"],
    }


def lattice_v2_event(
    request: HttpRequest, *, base64_body: bool = False, list_values: bool = True
) -> dict[str, Any]:
    """Version 2, with header and query values as lists (AWS's current schema) or, with
    ``list_values=False``, as strings (older samples)."""
    headers: dict[str, Any] = grouped(standard_headers(request, LATTICE_HOST), lower=True)
    query: dict[str, Any] = grouped(request.query)
    if not list_values:
        headers = {k: join_values(k, v) for k, v in headers.items()}
        query = {k: v[-1] for k, v in query.items()}
    body = body_fields(request, base64_body)
    return {
        "version": "2.0",
        "path": request.path,
        "method": request.method,
        "headers": headers,
        "queryStringParameters": query,
        "body": body["body"] or "",
        "isBase64Encoded": body["isBase64Encoded"],
        "requestContext": {
            "serviceNetworkArn": f"{LATTICE_ARN}:servicenetwork/sn-0bf3f2882e9cc805a",
            "serviceArn": f"{LATTICE_ARN}:service/svc-0a40eebed65f8d69c",
            "targetGroupArn": f"{LATTICE_ARN}:targetgroup/tg-6d0ecf831eec9f09",
            "identity": {
                "sourceVpcArn": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0b8276c84697e7339",
                "type": "AWS_IAM",
                "principal": "arn:aws:iam::123456789012:role/caller",
                "sessionName": "i-0123456789abcdef0",
            },
            "region": "us-east-1",
            "timeEpoch": str(now_ms() * 1000),  # microseconds, as a string
        },
    }


def build_event(
    kind: EventKind, request: HttpRequest, *, base64_body: bool | None
) -> dict[str, Any]:
    """A real-shaped event of this kind carrying ``request``; ``base64_body=None`` encodes
    the body as AWS does (HTTP API and function URLs base64 all but text types, the
    others send text as text)."""
    if kind == "http_api_v2":
        return http_api_v2_event(request, base64_body=base64_body)
    if kind == "function_url":
        return function_url_event(request, base64_body=base64_body)
    base64_body = bool(base64_body)
    if kind == "rest_v1":
        return rest_v1_event(request, base64_body=base64_body)
    if kind == "lattice_v1":
        return lattice_v1_event(request, base64_body=base64_body)
    if kind == "lattice_v2":
        return lattice_v2_event(request, base64_body=base64_body)
    return alb_event(request, base64_body=base64_body, multi_value=kind == "alb_multi_value")


def assert_real_shape(kind: EventKind, event: dict[str, Any]) -> None:
    """Validate against Powertools' models of what AWS sends (they reject drift)."""
    from aws_lambda_powertools.utilities.parser import models

    if kind == "alb_multi_value":
        # AlbModel wrongly requires single-value fields; check the multi-value shape by hand.
        assert set(event) >= {"requestContext", "httpMethod", "path", "body", "isBase64Encoded"}
        assert "headers" not in event and "queryStringParameters" not in event
        assert all(isinstance(v, list) for v in event["multiValueHeaders"].values())
        assert all(isinstance(v, list) for v in event["multiValueQueryStringParameters"].values())
        assert event["requestContext"]["elb"]["targetGroupArn"].startswith("arn:aws:")
        return
    if kind == "lattice_v2":
        # VpcLatticeV2Model types values as strings, AWS's schema sends lists of strings:
        # check the lists here, the rest of the shape with the model (values comma-joined,
        # as Powertools' own VPCLatticeEventV2 joins query lists).
        flat = dict(event)
        for field in ("headers", "queryStringParameters"):
            values = event[field].values()
            assert all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in values)
            flat[field] = {k: ",".join(v) for k, v in event[field].items()}
        models.VpcLatticeV2Model.model_validate(flat)
        return
    model = {
        "rest_v1": models.APIGatewayProxyEventModel,
        "http_api_v2": models.APIGatewayProxyEventV2Model,
        "alb": models.AlbModel,
        "function_url": models.LambdaFunctionUrlModel,
        "lattice_v1": models.VpcLatticeModel,
    }[kind]
    model.model_validate(event)


TEXTUAL_RESPONSE_TYPES = ("text/", "application/json", "application/problem+json")
MULTI_VALUE_KINDS = ("rest_v1", "alb_multi_value")
V2_KINDS = ("http_api_v2", "function_url")
DESCRIBED_KINDS = ("alb", "alb_multi_value", "lattice_v1", "lattice_v2")


def read_result(result: Any, kind: EventKind | None = None) -> HttpResponse:
    """The one checker of Lambda response shape: what API Gateway, ALB, function URLs and
    VPC Lattice accept (anything else reaches the client as a 502), and, for a known
    ``kind``, exactly the fields that channel reads. Returns what the client would get."""
    assert isinstance(result, dict), result
    status = result["statusCode"]
    assert type(status) is int and 100 <= status <= 599, result
    assert isinstance(result["body"], str), result
    assert isinstance(result["isBase64Encoded"], bool), result
    assert ("headers" in result) != ("multiValueHeaders" in result), result
    headers: list[tuple[str, str]] = []
    for name, values in result.get("multiValueHeaders", {}).items():
        assert isinstance(values, list), result
        headers += [(name, v) for v in values]
    headers += list(result.get("headers", {}).items())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers), result
    cookies = result.get("cookies", [])
    assert isinstance(cookies, list) and all(isinstance(c, str) for c in cookies), result
    if "statusDescription" in result:
        description = result["statusDescription"]
        assert description.startswith(f"{status} ") and len(description) > 4, result
    if kind is not None:
        assert ("multiValueHeaders" in result) == (kind in MULTI_VALUE_KINDS), (kind, result)
        assert ("statusDescription" in result) == (kind in DESCRIBED_KINDS), (kind, result)
        if kind in V2_KINDS:
            assert not any(k.lower() == "set-cookie" for k, _ in headers), (
                "Set-Cookie not in cookies"
            )
        else:
            assert "cookies" not in result, (kind, result)
    headers += [("Set-Cookie", c) for c in cookies]
    body = (
        base64.b64decode(result["body"]) if result["isBase64Encoded"] else result["body"].encode()
    )
    response = HttpResponse(status, headers, body)
    content_type = response.header("Content-Type") or ""
    if content_type.startswith(TEXTUAL_RESPONSE_TYPES):
        assert not result["isBase64Encoded"], f"{content_type} body was base64-encoded"
    return response


# -- events from other AWS services (not HTTP requests), in the shapes those services send

ACCOUNT = "123456789012"


def sqs_event(*, body: str = "hello") -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(now_ms())},
                "messageAttributes": {},
                "md5OfBody": "5d41402abc4b2a76b9719d911017c592",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:user-api-queue",
                "awsRegion": "us-east-1",
            }
        ]
    }


def s3_event(*, key: str = "uploads/report.csv") -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-24T19:40:21.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": "user-api-uploads", "arn": "arn:aws:s3:::user-api-uploads"},
                    "object": {"key": key, "size": 1024, "eTag": "0123456789abcdef"},
                },
            }
        ]
    }


def sns_event(*, message: str = "hello") -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops",
                    "Message": message,
                    "Timestamp": "2026-11-24T19:40:21.000Z",
                },
            }
        ]
    }


def kinesis_event(*, data: str = "aGVsbG8=") -> dict[str, Any]:
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "1",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "data": data,
                    "approximateArrivalTimestamp": 1545084650.987,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": "shardId-000000000006:4959033827149025660855969253836157109592",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/user-api",
            }
        ]
    }


def dynamodb_stream_event() -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": {"S": "USER#sam"}, "sk": {"S": "PROFILE"}},
                    "SequenceNumber": "4421584500000000017450439091",
                    "SizeBytes": 26,
                    "StreamViewType": "KEYS_ONLY",
                },
                "eventSourceARN": (
                    f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/users/stream/2026-11-24T00:00:00.000"
                ),
            }
        ]
    }


EC2_STATE_CHANGE = "EC2 Instance State-change Notification"


def eventbridge_event(
    *, source: str = "aws.ec2", detail_type: str = EC2_STATE_CHANGE
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-11-24T19:40:21Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"instance-id": "i-0123456789abcdef0", "state": "running"},
    }
