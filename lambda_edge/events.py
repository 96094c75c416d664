"""Which kind of event this is: the one place that tells them apart."""

from __future__ import annotations

from typing import Any

from lambda_edge.alb import Alb, AlbMultiValue
from lambda_edge.api_gateway import FunctionUrl, HttpApiV2, RestV1, is_function_url
from lambda_edge.base import EventKind, Kind, LambdaResponse
from lambda_edge.fields import RejectedEvent
from lambda_edge.lattice import LatticeV1, LatticeV2

KINDS: dict[EventKind, Kind] = {
    kind.name: kind
    for kind in (
        RestV1(),
        HttpApiV2(),
        FunctionUrl(),
        Alb(),
        AlbMultiValue(),
        LatticeV1(),
        LatticeV2(),
    )
}
EVENT_KINDS: tuple[EventKind, ...] = tuple(KINDS)
WARMUP_SOURCES = frozenset({"serverless-plugin-warmup"})
LATTICE_V1_FIELDS = frozenset({"raw_path", "query_string_parameters", "is_base64_encoded"})


def is_warmup(event: Any) -> bool:
    """A warm-up ping (serverless-plugin-warmup, a scheduled EventBridge rule)."""
    if not isinstance(event, dict):
        return False
    source = event.get("source")
    if not isinstance(source, str):  # any JSON value may arrive here, lists included
        return False
    return source in WARMUP_SOURCES or (
        source == "aws.events" and event.get("detail-type") == "Scheduled Event"
    )


class EventFromAnotherService(Exception):
    """An event another AWS service sent (a queue's messages, a stream's records): it must fail
    the invocation, so that the service retries it or sends it to its dead-letter queue, and
    the function's Errors metric (and alarm) counts it. A 400 answer would count as success:
    SQS would delete the messages, a stream would move past its records."""

    def __init__(self, arrived: str) -> None:
        super().__init__(
            f"This function serves HTTP requests only, and was invoked with {arrived}:"
            " check the trigger (event source mapping, subscription or rule) that sent it."
        )


def other_service(event: Any) -> str | None:
    """What arrived, when the event is recognisably from an AWS service other than an HTTP
    front door (None for HTTP events, warm-up pings and anything unrecognisable)."""
    if not isinstance(event, dict):
        return None
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        first = records[0]
        source = first.get("eventSource") or first.get("EventSource")
        if isinstance(source, str):
            return f"{len(records)} record(s) from {source}"
    source, detail_type = event.get("source"), event.get("detail-type")
    if isinstance(source, str) and isinstance(detail_type, str):
        return f"an EventBridge event (source {source!r}, detail-type {detail_type!r})"
    for fields, what in SERVICE_FIELDS:
        if fields <= event.keys():
            return what
    return None


# Fields that only one service's events carry, and what to call such an event.
SERVICE_FIELDS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"awslogs"}), "a CloudWatch Logs subscription event"),
    (frozenset({"deliveryStreamArn", "records"}), "a Kinesis Data Firehose batch"),
    (frozenset({"eventSource", "records"}), "a Kafka (MSK or self-managed) batch"),
    (frozenset({"triggerSource", "userPoolId"}), "a Cognito user pool trigger"),
    (frozenset({"RequestType", "ResponseURL"}), "a CloudFormation custom resource request"),
    (frozenset({"CodePipeline.job"}), "a CodePipeline job"),
    (frozenset({"SecretId", "ClientRequestToken", "Step"}), "a Secrets Manager rotation"),
)


def warmup_response() -> LambdaResponse:
    return {"statusCode": 204, "headers": {}, "body": "", "isBase64Encoded": False}


def classify(event: Any) -> Kind:
    """The kind whose rules this event follows, by the fields only that kind has; raises
    EventFromAnotherService for an event from another AWS service (see there).

    A damaged event of a known kind is classified all the same, so that its problem
    response names the field at fault and has the shape its channel accepts.
    """
    if not isinstance(event, dict):
        raise RejectedEvent(f"Expected an HTTP event object, got {type(event).__name__}.")
    if event.get("version") == "2.0":
        if "rawPath" not in event and ("method" in event or "path" in event):
            return KINDS["lattice_v2"]
        return KINDS["function_url" if is_function_url(event) else "http_api_v2"]
    context = event.get("requestContext")
    if isinstance(context, dict) and "elb" in context:
        return KINDS["alb_multi_value" if "multiValueHeaders" in event else "alb"]
    if "httpMethod" in event:
        return KINDS["rest_v1"]
    if not LATTICE_V1_FIELDS.isdisjoint(event):
        return KINDS["lattice_v1"]
    if (arrived := other_service(event)) is not None:
        # Not caught by handler.py: the invocation fails, and the runtime logs it, once.
        raise EventFromAnotherService(arrived)
    raise RejectedEvent(
        "Not an HTTP event: expected an API Gateway (REST or HTTP API), ALB, VPC Lattice"
        " or function URL request."
    )


def unknown_kind_response(event: Any, result: LambdaResponse) -> LambdaResponse:
    """A response for an event of no known kind, in the shape its fields suggest:
    lists when it came with multiValueHeaders."""
    if isinstance(event, dict) and isinstance(event.get("multiValueHeaders"), dict):
        result["multiValueHeaders"] = {k: [v] for k, v in result.pop("headers").items()}
    return result
