"""app/store/dynamodb_client.py: the cheaper client must be the same client.

Each shortcut is checked against botocore's own behaviour (the same requests, endpoints,
signatures and models as a stock boto3 client), against a real local server over HTTP
and HTTPS, and for its fallback when its assumption does not hold.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore
import botocore.loaders
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError, UnknownServiceError

from app.store import dynamodb_client
from app.store.dynamodb_client import (
    AMAZON_ROOTS,
    AmazonRootsClient,
    DynamoDBLoader,
    build_client,
    dynamodb_session,
    fires_for_service,
    trimmed_endpoints,
)
from tests import dynamo_server
from tests.processes import without_coverage
from tests.stores import DynamoTable
from tests.tls_front import LocalCA, make_test_ca, tls_front

pytest_plugins = ["tests.conftest_dynamo"]

BOTOCORE_DATA = Path(botocore.__file__).parent / "data"
BOTOCORE_BUNDLE = Path(botocore.__file__).parent / "cacert.pem"
SETTINGS: dict[str, Any] = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_attempts": 2}
REGIONS = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-7",
    "us-gov-west-1",
    "cn-north-1",
    "us-iso-east-1",
    "eu-isoe-west-1",
    "local",
]


class Captured(Exception):
    """Raised from before-send: the request was built and signed, and goes no further."""

    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def captured_request(client: Any, **params: Any) -> Any:
    def capture(request: Any, **_: Any) -> None:
        raise Captured(request)

    client.meta.events.register("before-send.dynamodb", capture)
    try:
        client.put_item(**params)
    except Captured as captured:
        return captured.request
    finally:
        client.meta.events.unregister("before-send.dynamodb", capture)
    raise AssertionError("the request was sent")


def stock_client(region: str) -> Any:
    """What app/store/dynamodb.py built before: boto3's client, the same settings."""
    config = Config(
        connect_timeout=SETTINGS["connect_timeout"],
        read_timeout=SETTINGS["read_timeout"],
        retries={"mode": "standard", "total_max_attempts": SETTINGS["max_attempts"]},
    )
    return boto3.session.Session(region_name=region).client("dynamodb", config=config)


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Iterator[str]:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    yield "us-east-1"


def signing_scope(request: Any) -> tuple[str, str]:
    # Credential=<key>/<date>/<region>/<service>/aws4_request
    match = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", _auth(request))
    assert match, _auth(request)
    return match.group(1), match.group(2)


def _auth(request: Any) -> str:
    value = request.headers["Authorization"]
    return value.decode() if isinstance(value, bytes) else value


def _header(request: Any, name: str) -> str:
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else value


def sigv4_signature(request: Any, secret_key: str) -> str:
    """SigV4 computed here from the request's bytes (AWS's published algorithm), not by
    botocore, so a wrong region, service or header set would not match."""
    auth = _auth(request)
    signed = re.search(r"SignedHeaders=([^,]+)", auth).group(1).split(";")  # type: ignore[union-attr]
    region, service = signing_scope(request)
    amz_date = _header(request, "X-Amz-Date")
    url = urlsplit(request.url)
    headers = {name.lower(): _header(request, name) for name in request.headers}
    headers.setdefault("host", url.netloc)
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    canonical = "\n".join(
        [
            request.method,
            url.path or "/",
            url.query,
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


ITEM = {"TableName": "users", "Item": {"pk": {"S": "USER#sam"}, "sk": {"S": "DETAILS"}}}


# ---------------------------------------------------------------- same requests as boto3


@pytest.mark.parametrize("name", REGIONS)
def test_requests_match_a_stock_boto3_client_in_every_partition(
    name: str, region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", name)
    fast = build_client(endpoint_url=None, **SETTINGS)
    stock = stock_client(name)
    assert fast.meta.endpoint_url == stock.meta.endpoint_url
    ours, theirs = captured_request(fast, **ITEM), captured_request(stock, **ITEM)
    assert ours.url == theirs.url
    assert signing_scope(ours) == signing_scope(theirs)
    assert ours.body == theirs.body
    skip = {"authorization", "x-amz-date", "user-agent", "amz-sdk-invocation-id"}
    assert {k.lower(): v for k, v in ours.headers.items() if k.lower() not in skip} == {
        k.lower(): v for k, v in theirs.headers.items() if k.lower() not in skip
    }
    signature = re.search(r"Signature=([0-9a-f]{64})", _auth(ours)).group(1)  # type: ignore[union-attr]
    assert signature == sigv4_signature(ours, dynamo_server.DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"])


def test_the_client_has_the_settings_asked_for(region: str) -> None:
    client = build_client(endpoint_url="http://127.0.0.1:1", **SETTINGS)
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (2.0, 2.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}


@pytest.mark.slow
def test_building_the_client_imports_neither_boto3_nor_s3transfer(region: str) -> None:
    code = (
        "import sys\n"
        "from app.store.dynamodb_client import build_client\n"
        "build_client(endpoint_url=None, connect_timeout=1, read_timeout=1, max_attempts=1)\n"
        "loaded = [m for m in ('boto3', 's3transfer', 'multiprocessing') if m in sys.modules]\n"
        "sys.exit(loaded or 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=without_coverage({**os.environ, **dynamo_server.DUMMY_AWS_ENV}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- built-in handlers


@pytest.mark.parametrize(
    ("event_name", "fires"),
    [
        ("creating-client-class", True),
        ("before-call", True),
        ("before-call.dynamodb", True),
        ("before-parameter-build.*.*", True),
        ("before-call.s3", False),
        ("before-parameter-build.s3.PutObject", False),
        ("docs.*.dynamodb.*.complete-section", True),
        ("docs.*.*.*.complete-section", True),
        ("docs.request-params.s3.*.complete-section", False),
        ("docs.*.ec2.RunInstances.complete-section", False),
    ],
)
def test_which_registrations_can_fire_for_dynamodb(event_name: str, fires: bool) -> None:
    assert fires_for_service(event_name, "dynamodb") is fires


def tripwire_session(fired: list[str]) -> Any:
    """A session with every built-in handler, as botocore's own; the ones
    dynamodb_session leaves out record their event when they run."""
    import botocore.handlers
    import botocore.session

    session = botocore.session.Session(include_builtin_handlers=False)
    emitter = session.get_component("event_emitter")
    for event_name, handler, *order in botocore.handlers.BUILTIN_HANDLERS:
        if not fires_for_service(event_name, "dynamodb"):

            def handler(
                *args: Any, _event: str = event_name, _run: Any = handler, **kwargs: Any
            ) -> Any:
                fired.append(_event)
                return _run(*args, **kwargs)

        if not order:
            session.register(event_name, handler)
        elif order[0] is botocore.handlers.REGISTER_FIRST:
            emitter.register_first(event_name, handler)
        else:
            emitter.register_last(event_name, handler)
    return session


def test_left_out_handlers_never_fire_for_dynamodb_calls(
    region: str, dynamo_table: DynamoTable
) -> None:
    fired: list[str] = []
    client = tripwire_session(fired).create_client(
        "dynamodb", endpoint_url=dynamo_table.endpoint_url
    )
    put_and_read_back(client, dynamo_table)
    client.update_item(
        TableName=dynamo_table.name,
        Key={"pk": {"S": "USER#sam"}, "sk": {"S": "DETAILS"}},
        UpdateExpression="SET firstname = :f",
        ExpressionAttributeValues={":f": {"S": "john"}},
    )
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(
            TableName=dynamo_table.name,
            Item={"pk": {"S": "USER#sam"}, "sk": {"S": "DETAILS"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    # Docstrings are built lazily, from docs.* events.
    assert "Creates a new item" in str(client.put_item.__doc__)
    assert fired == []


def test_the_tripwire_catches_handlers_of_other_services(region: str) -> None:
    fired: list[str] = []
    s3 = tripwire_session(fired).create_client("s3")
    s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert any(".s3" in event for event in fired)


@pytest.fixture
def registrations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every (event, handler) registered on a botocore emitter from now on."""
    import botocore.hooks

    registered: list[tuple[str, Any]] = []
    for method in ("register", "register_first", "register_last"):
        original = getattr(botocore.hooks.HierarchicalEmitter, method)

        def spy(
            self: Any,
            event_name: str,
            handler: Any,
            *args: Any,
            _run: Any = original,
            **kwargs: Any,
        ) -> Any:
            registered.append((event_name, handler))
            return _run(self, event_name, handler, *args, **kwargs)

        monkeypatch.setattr(botocore.hooks.HierarchicalEmitter, method, spy)
    return registered


def test_the_session_registers_exactly_what_fires_for_dynamodb(
    registrations: list[tuple[str, Any]],
) -> None:
    import botocore.handlers

    dynamodb_session()
    builtin = botocore.handlers.BUILTIN_HANDLERS
    expected = [
        (event_name, handler)
        for event_name, handler, *_ in builtin
        if fires_for_service(event_name, "dynamodb")
    ]
    assert 0 < len(expected) < len(builtin) / 4
    # Others' initializers may add their own (Powertools, once imported, adds a user agent).
    builtin_handlers = {spec[1] for spec in builtin}
    assert [r for r in registrations if r[1] in builtin_handlers] == expected


def test_an_unfamiliar_handler_table_gets_botocores_own_session(
    region: str,
    dynamo_table: DynamoTable,
    monkeypatch: pytest.MonkeyPatch,
    registrations: list[tuple[str, Any]],
) -> None:
    import botocore.handlers

    # A later botocore with a registration order this module does not know.
    builtin = list(botocore.handlers.BUILTIN_HANDLERS)
    unfamiliar = ("before-call.s3", lambda **_: None, object())
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*builtin, unfamiliar])
    client = build_client(endpoint_url=dynamo_table.endpoint_url, **SETTINGS)
    # Every handler, as botocore's own session registers them (S3's included).
    assert [handler for _, handler in registrations[: len(builtin)]] == [
        spec[1] for spec in builtin
    ]
    put_and_read_back(client, dynamo_table)


# ---------------------------------------------------------------- a real server, HTTP and HTTPS


def put_and_read_back(client: Any, table: DynamoTable) -> None:
    key = {"pk": {"S": "USER#sam"}, "sk": {"S": "DETAILS"}}
    client.put_item(TableName=table.name, Item={**key, "lastname": {"S": "king"}})
    item = client.get_item(TableName=table.name, Key=key, ConsistentRead=True)["Item"]
    assert item["lastname"] == {"S": "king"}


def test_talks_to_the_local_server_over_http(region: str, dynamo_table: DynamoTable) -> None:
    client = build_client(endpoint_url=dynamo_table.endpoint_url, **SETTINGS)
    assert not isinstance(client, AmazonRootsClient)  # plain HTTP: no certificates
    put_and_read_back(client, dynamo_table)


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


def test_talks_over_https_with_a_configured_bundle(
    region: str, dynamo_table: DynamoTable, local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tls_front(dynamo_table.endpoint_url, local_ca) as https_url:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(local_ca.ca_pem))
        client = build_client(endpoint_url=https_url, **SETTINGS)
        assert not isinstance(client, AmazonRootsClient)  # the operator's bundle is used as is
        put_and_read_back(client, dynamo_table)


def test_a_server_amazon_roots_do_not_cover_gets_the_full_bundle_and_one_write(
    region: str, dynamo_table: DynamoTable, local_ca: LocalCA
) -> None:
    with tls_front(dynamo_table.endpoint_url, local_ca) as https_url:
        client = build_client(
            endpoint_url=https_url, fallback_verify=str(local_ca.ca_pem), **SETTINGS
        )
        assert isinstance(client, AmazonRootsClient) and not client.widened
        put_and_read_back(client, dynamo_table)
        assert client.widened
        put_and_read_back(client, dynamo_table)
    stored = dynamo_server.scan_all(
        dynamo_server.dynamodb_client(dynamo_table.endpoint_url), dynamo_table.name
    )
    assert len(stored) == 1


def test_a_server_no_bundle_covers_still_fails_verification(
    region: str, dynamo_table: DynamoTable, local_ca: LocalCA
) -> None:
    with tls_front(dynamo_table.endpoint_url, local_ca) as https_url:
        client = build_client(
            endpoint_url=https_url, fallback_verify=str(BOTOCORE_BUNDLE), **SETTINGS
        )
        with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            client.put_item(TableName=dynamo_table.name, Item=ITEM["Item"])
        assert client.widened


# Starfield Services Root G2 has serial number 0, which cryptography warns about.
@pytest.mark.filterwarnings("ignore:Parsed a serial number")
def test_amazon_roots_come_from_botocores_bundle_and_stay_valid() -> None:
    from cryptography import x509

    blocks = re.findall(r"# Issuer:.*?-----END CERTIFICATE-----\n", AMAZON_ROOTS.read_text(), re.S)
    bundle = BOTOCORE_BUNDLE.read_text()
    labels = [re.search(r'# Label: "(.*)"', block).group(1) for block in blocks]  # type: ignore[union-attr]
    assert sorted(labels) == [
        "Amazon Root CA 1",
        "Amazon Root CA 2",
        "Amazon Root CA 3",
        "Amazon Root CA 4",
        "Starfield Services Root Certificate Authority - G2",
    ]
    in_a_year = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    for block in blocks:
        assert block in bundle  # byte for byte
        cert = x509.load_pem_x509_certificate(block[block.index("-----BEGIN") :].encode())
        assert cert.not_valid_after_utc > in_a_year


@pytest.mark.parametrize(
    ("env", "endpoint_url", "expected"),
    [
        ({}, None, True),
        ({"AWS_CA_BUNDLE": "/some/bundle.pem"}, None, False),
        ({}, "http://127.0.0.1:8000", False),
        ({"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}, None, False),
        ({"AWS_ENDPOINT_URL_DYNAMODB": "https://vpce.example"}, None, True),
        ({"AWS_DEFAULT_REGION": "cn-north-1"}, None, False),
        ({"AWS_REGION": "cn-northwest-1"}, None, False),
    ],
)
def test_amazon_roots_only_where_they_apply(
    env: dict[str, str],
    endpoint_url: str | None,
    expected: bool,
    region: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert dynamodb_client.use_amazon_roots(endpoint_url) is expected


# ---------------------------------------------------------------- the loader


def stock_loader(*paths: Path) -> botocore.loaders.Loader:
    return botocore.loaders.Loader(extra_search_paths=[str(p) for p in paths])


@pytest.mark.parametrize("service", ["dynamodb", "dynamodbstreams", "sts", "s3"])
@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1", "paginators-1"])
def test_loader_loads_the_same_models_as_botocores(service: str, type_name: str) -> None:
    try:
        expected = stock_loader().load_service_model(service, type_name)
    except botocore.exceptions.DataNotFoundError:
        with pytest.raises(botocore.exceptions.DataNotFoundError):
            DynamoDBLoader().load_service_model(service, type_name)
        return
    assert DynamoDBLoader().load_service_model(service, type_name) == expected


def test_loader_unknown_service_is_botocores_error() -> None:
    with pytest.raises(UnknownServiceError):
        DynamoDBLoader().load_service_model("no-such-service", "service-2")


def test_loader_picks_the_latest_api_version_like_botocore(tmp_path: Path) -> None:
    newer = tmp_path / "dynamodb" / "2099-01-01"
    newer.mkdir(parents=True)
    (newer / "service-2.json").write_text(json.dumps({"metadata": {"apiVersion": "2099-01-01"}}))
    ours = DynamoDBLoader(extra_search_paths=[str(tmp_path)]).load_service_model(
        "dynamodb", "service-2"
    )
    assert ours == stock_loader(tmp_path).load_service_model("dynamodb", "service-2")
    assert ours["metadata"]["apiVersion"] == "2099-01-01"


def full_endpoints() -> dict[str, Any]:
    return json.loads((BOTOCORE_DATA / "endpoints.json").read_text())


def only(service: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "partitions": [
            {**p, "services": {k: v for k, v in p["services"].items() if k == service}}
            for p in data["partitions"]
        ],
    }


def test_trimmed_endpoints_equal_the_full_parse_restricted_to_dynamodb() -> None:
    text = (BOTOCORE_DATA / "endpoints.json").read_text()
    assert trimmed_endpoints(text, "dynamodb") == only("dynamodb", full_endpoints())


@pytest.mark.parametrize(
    "layout",
    [
        lambda d: json.dumps(d),  # compact
        lambda d: json.dumps(d, indent=4),  # other indentation
        lambda d: json.dumps(d, indent=2),  # ": " instead of " : "
        lambda d: "",
    ],
)
def test_trimmed_endpoints_refuse_other_layouts(layout: Any) -> None:
    assert trimmed_endpoints(layout(full_endpoints()), "dynamodb") is None


def test_loader_falls_back_to_the_full_endpoints_file_it_cannot_trim(tmp_path: Path) -> None:
    reformatted = full_endpoints()
    reformatted["partitions"][0]["services"]["dynamodb"]["endpoints"]["zz-test-1"] = {}
    (tmp_path / "endpoints.json").write_text(json.dumps(reformatted))
    data, path = DynamoDBLoader(extra_search_paths=[str(tmp_path)]).load_data_with_path("endpoints")
    assert data == reformatted and path == str(tmp_path / "endpoints")


def test_loader_reads_the_file_botocore_would_read_first(tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text((BOTOCORE_DATA / "endpoints.json").read_text())
    data, path = DynamoDBLoader(extra_search_paths=[str(tmp_path)]).load_data_with_path("endpoints")
    assert path == str(tmp_path / "endpoints")
    assert data == only("dynamodb", full_endpoints())


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The components build_client registers on its botocore session."""
    import botocore.session

    components: list[Any] = []
    original = botocore.session.Session.register_component

    def spy(self: Any, name: str, component: Any) -> None:
        components.append(component)
        original(self, name, component)

    monkeypatch.setattr(botocore.session.Session, "register_component", spy)
    return components


def test_our_loader_is_used_by_default(region: str, registered: list[Any]) -> None:
    build_client(endpoint_url="http://127.0.0.1:1", **SETTINGS)
    assert any(isinstance(c, DynamoDBLoader) for c in registered)


def test_an_unfamiliar_botocore_gets_its_own_loader_and_still_works(
    region: str,
    dynamo_table: DynamoTable,
    monkeypatch: pytest.MonkeyPatch,
    registered: list[Any],
) -> None:
    # A botocore whose Loader lacks a method ours relies on (renamed, say).
    monkeypatch.setattr(DynamoDBLoader, "REQUIRED", (*DynamoDBLoader.REQUIRED, "_renamed"))
    assert not DynamoDBLoader.supported()
    client = build_client(endpoint_url=dynamo_table.endpoint_url, **SETTINGS)
    assert not any(isinstance(c, DynamoDBLoader) for c in registered)
    put_and_read_back(client, dynamo_table)


def test_aws_data_path_keeps_botocores_loader(
    region: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registered: list[Any]
) -> None:
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    client = build_client(endpoint_url="http://127.0.0.1:1", **SETTINGS)
    assert not any(isinstance(c, DynamoDBLoader) for c in registered)
    assert client.meta.service_model.service_name == "dynamodb"
