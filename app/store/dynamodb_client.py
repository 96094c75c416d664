"""Building the DynamoDB client cheaply: what a cold start on the DynamoDB path pays for.

The usual ``boto3.session.Session().client("dynamodb")`` spends most of a cold start's
extra time in botocore, not in DynamoDB. Each step below removes one part of that, and
each falls back to botocore's own behaviour when its assumption does not hold, because
the Lambda runtime's botocore version is not ours to pin:

1. botocore's session instead of boto3's: boto3 adds nothing to a low-level client, but
   importing it also imports s3transfer, and with it multiprocessing and concurrent.futures.
2. No garbage collection while the client is built: building it allocates hundreds of
   thousands of container objects (parsed JSON) that all live as long as the process, so
   the collector's generation scans find nothing to free. (On a cold start handler.py
   already runs all of init without collection; this covers rebuilds after a SnapStart
   restore or a fork.)
3. A loader that does not scan botocore's data directory (hundreds of services, twice:
   ``list_available_services`` for the model and again for the endpoint rule set) just
   to confirm that ``dynamodb`` exists. It asks the ``dynamodb`` directory directly,
   with the same answer (:class:`DynamoDBLoader`).
4. Only DynamoDB's part of ``endpoints.json`` (1.25 MB), cut out of the runtime's own file
   before parsing, instead of parsing every service of every partition
   (:func:`trimmed_endpoints`). Anything unexpected in the file's layout falls back to
   the full parse.
5. Amazon's five roots instead of the whole CA bundle on the first TLS connection, when
   no bundle is configured (``AWS_CA_BUNDLE``, ``ca_bundle``). If a handshake ever fails
   verification with them, the client is rebuilt with botocore's full bundle and the
   call is repeated once: a failed handshake sends no request, so the repeat is safe
   (:class:`AmazonRootsClient`).
6. Only the built-in event handlers that can fire for DynamoDB. A botocore session
   registers every handler of every service (S3's, EC2's, the docs' ...), each checked by
   ``inspect`` and run through the event aliaser, for a client that will never emit their
   events (:func:`dynamodb_session`).
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.loaders import Loader as BotocoreLoader

DynamoDBClient = Any  # botocore builds the client class at run time

SERVICE = "dynamodb"
AMAZON_ROOTS = Path(__file__).with_name("amazon_roots.pem")
# Partitions whose endpoints are not served with Amazon Trust Services certificates.
OTHER_CA_REGION_PREFIXES = ("cn-",)


def build_client(
    *,
    endpoint_url: str | None,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    fallback_verify: str | bool | None = None,
) -> DynamoDBClient:
    """A DynamoDB client with the given timeouts and retries (see ClientSettings).

    ``fallback_verify`` is what a rebuilt client trusts after Amazon's roots failed to
    verify a server: None is botocore's own choice (its full bundle)."""

    def build(verify: str | bool | None) -> DynamoDBClient:
        return create_botocore_client(
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            verify=verify,
        )

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if not use_amazon_roots(endpoint_url):
            return build(None)
        return AmazonRootsClient(build, str(AMAZON_ROOTS), fallback_verify)
    finally:
        if gc_was_enabled:
            gc.enable()


def create_botocore_client(
    *,
    endpoint_url: str | None,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    verify: str | bool | None,
) -> DynamoDBClient:
    from botocore.config import Config

    session = dynamodb_session()
    # AWS_DATA_PATH means someone wants other models than botocore's: leave loading alone.
    if session.get_config_variable("data_path") is None and DynamoDBLoader.supported():
        session.register_component("data_loader", DynamoDBLoader())
    if verify == str(AMAZON_ROOTS) and session.get_config_variable("ca_bundle"):
        verify = None  # a bundle chosen in ~/.aws/config: botocore applies it
    return session.create_client(
        SERVICE,
        endpoint_url=endpoint_url,
        verify=verify,
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # total_max_attempts counts the first attempt; botocore's "max_attempts" does not.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
        ),
    )


def dynamodb_session() -> Any:
    """A botocore session with the built-in handlers a DynamoDB client can fire, or
    botocore's own session when its handler table is not laid out as expected."""
    import botocore.handlers
    import botocore.session

    specs = getattr(botocore.handlers, "BUILTIN_HANDLERS", None)
    order = {
        getattr(botocore.handlers, "REGISTER_FIRST", object()): "register_first",
        getattr(botocore.handlers, "REGISTER_LAST", object()): "register_last",
    }
    if not isinstance(specs, list) or not all(
        isinstance(spec, tuple)
        and isinstance(spec[0], str)
        and (len(spec) == 2 or (len(spec) == 3 and spec[2] in order))
        for spec in specs
    ):
        return botocore.session.get_session()
    session = botocore.session.Session(include_builtin_handlers=False)
    emitter = session.get_component("event_emitter")
    for spec in specs:
        if not fires_for_service(spec[0], SERVICE):
            continue
        if len(spec) == 2:
            session.register(spec[0], spec[1])
        else:
            getattr(emitter, order[spec[2]])(spec[0], spec[1])
    return session


def fires_for_service(event_name: str, service: str) -> bool:
    """Whether a handler registered for ``event_name`` can fire for ``service``'s client.

    botocore's events name the service second ("before-call.s3.PutObject"), docs events
    third ("docs.request-params.s3.*.complete-section"); a registration that stops
    before that part, or has "*" there, matches every service."""
    parts = event_name.split(".")
    position = 2 if parts[0] == "docs" else 1
    return len(parts) <= position or parts[position] in ("*", service)


def use_amazon_roots(endpoint_url: str | None) -> bool:
    """Amazon's roots only when nobody chose a bundle and the endpoint is AWS's own."""
    if os.environ.get("AWS_CA_BUNDLE") or not AMAZON_ROOTS.is_file():
        return False
    if endpoint_url is None:
        endpoint_url = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get(
            "AWS_ENDPOINT_URL"
        )
    if endpoint_url is not None and not endpoint_url.lower().startswith("https://"):
        return False  # plain HTTP (a local server): no certificates at all
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    return not region.startswith(OTHER_CA_REGION_PREFIXES)


def is_certificate_failure(exc: BaseException) -> bool:
    from botocore.exceptions import SSLError

    return isinstance(exc, SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc)


class AmazonRootsClient:
    """A DynamoDB client that trusts Amazon's roots, and botocore's whole bundle after a
    certificate failure. Everything else is the wrapped client's own (``meta``,
    ``exceptions``, ``close``...)."""

    def __init__(
        self,
        build: Callable[[str | bool | None], DynamoDBClient],
        amazon_roots: str,
        fallback_verify: str | bool | None,
    ) -> None:
        self._build = build
        self._fallback_verify = fallback_verify
        self._lock = threading.Lock()
        self._client = build(amazon_roots)
        self._operations = frozenset(self._client.meta.method_to_api_mapping)
        self.widened = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._operations or self.widened:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            narrow = self._client
            try:
                return getattr(narrow, name)(*args, **kwargs)
            except Exception as exc:
                if not is_certificate_failure(exc):
                    raise
                self._widen(narrow)
                return getattr(self._client, name)(*args, **kwargs)

        return call

    def _widen(self, failed: DynamoDBClient) -> None:
        with self._lock:
            if self._client is failed:
                self._client = self._build(self._fallback_verify)
                self.widened = True
                failed.close()

    def close(self) -> None:
        self._client.close()


# ---------------------------------------------------------------- the data loader


class DynamoDBLoader(BotocoreLoader):  # type: ignore[misc]  # botocore has no types
    """botocore's loader, minus its scans of the whole data directory.

    - ``load_service_model``: botocore first lists every service (one directory listing
      per service) to check that the one asked for exists; here, the service's own
      directory answers that. Same search paths, same latest-version rule, same extras.
    - ``endpoints``: only DynamoDB's entries (:func:`trimmed_endpoints`). This loader
      belongs to a session that builds nothing but DynamoDB clients.

    :meth:`supported` says whether this botocore has the methods relied on; if not,
    botocore's own loader is used.
    """

    REQUIRED = (
        "list_api_versions",
        "load_data",
        "load_data_with_path",
        "_find_extras",
        "_potential_locations",
    )

    @classmethod
    def supported(cls) -> bool:
        return all(callable(getattr(BotocoreLoader, name, None)) for name in cls.REQUIRED) and (
            hasattr(BotocoreLoader(), "_extras_processor")
        )

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:

        # Cached per loader, as botocore caches its own (extras are merged into the model once).
        cache: dict[tuple[str, str, str | None], Any] = self.__dict__.setdefault("_models", {})
        key = (service_name, type_name, api_version)
        if key not in cache:
            cache[key] = self._load_service_model(service_name, type_name, api_version)
        return cache[key]

    def _load_service_model(
        self, service_name: str, type_name: str, api_version: str | None
    ) -> Any:
        from botocore.exceptions import DataNotFoundError

        try:
            versions = self.list_api_versions(service_name, type_name)
        except DataNotFoundError:
            # Unknown here: botocore's own path scans and raises UnknownServiceError.
            return super().load_service_model(service_name, type_name, api_version)
        if api_version is None:
            api_version = max(versions)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        extras = self._find_extras(service_name, type_name, api_version)
        self._extras_processor.process(model, extras)
        return model

    def load_data_with_path(self, name: str) -> Any:
        if name == "endpoints":
            found = self._dynamodb_endpoints()
            if found is not None:
                return found
        return super().load_data_with_path(name)

    def _dynamodb_endpoints(self) -> tuple[dict[str, Any], str] | None:
        # The first location holding the file wins, as in botocore's own lookup.
        for location in self._potential_locations("endpoints"):
            if os.path.isfile(location + ".json"):
                with open(location + ".json", encoding="utf-8") as file:
                    data = trimmed_endpoints(file.read(), SERVICE)
                return None if data is None else (data, location)
            if any(os.path.isfile(location + ext) for ext in (".json.gz", ".gz")):
                return None  # a layout this module does not know: botocore loads it
        return None


# ---------------------------------------------------------------- endpoints.json

# botocore's endpoints.json is written with two-space indentation: a partition's keys at
# four spaces ("services" last but one or last), each service at six.
SERVICES_OPEN = '\n    "services" : {'
SERVICES_CLOSE = "\n    }"
SERVICE_CLOSE = "\n      }"


def trimmed_endpoints(text: str, service: str) -> dict[str, Any] | None:
    """endpoints.json parsed with only ``service`` left in each partition's services.

    The other services are cut out of the text before parsing, which is what saves the
    time. None when the text is not laid out as expected, or when the result does not
    look like what a full parse would give: the caller then parses the whole file.
    """
    service_open = f'\n      "{service}" : {{'
    pieces: list[str] = []
    position = 0
    partitions = 0
    while True:
        start = text.find(SERVICES_OPEN, position)
        if start < 0:
            break
        body = start + len(SERVICES_OPEN)
        end = text.find(SERVICES_CLOSE, body)
        if end < 0:
            return None
        pieces.append(text[position:body])
        entry = text.find(service_open, body, end)
        if entry >= 0:
            entry_end = text.find(SERVICE_CLOSE, entry + len(service_open), end)
            if entry_end < 0:
                return None
            pieces.append(text[entry : entry_end + len(SERVICE_CLOSE)])
        position = end
        partitions += 1
    pieces.append(text[position:])
    try:
        data = json.loads("".join(pieces))
    except ValueError:
        return None
    found = data.get("partitions") if isinstance(data, dict) else None
    if not isinstance(found, list) or len(found) != partitions or partitions == 0:
        return None
    for partition in found:
        services = partition.get("services") if isinstance(partition, dict) else None
        if not isinstance(services, dict) or set(services) - {service}:
            return None
        if not isinstance(services.get(service, {}), dict):
            return None
    checked: dict[str, Any] = data
    return checked
