"""The one module that makes AWS clients and reads botocore's errors.

Every client has one botocore ``Config`` (``standard`` retries, timeouts, user agent). Lambda
code shares one client per service per container (:func:`shared_client`); every failed call
becomes an :class:`~ecr_image_waiter.engine.image.Observation` through :func:`observation_of`
and :func:`failure_of`. boto3 is imported on first use only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine.classify import NeverReason, classify
from ecr_image_waiter.engine.image import Observation
from ecr_image_waiter.engine.safe import safe_text

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

#: botocore's retry settings for every call: the ``standard`` mode retries throttling,
#: transient 5xx answers and connection errors with jittered exponential backoff.
#: ``total_max_attempts`` counts the first call too (botocore's ``max_attempts`` counts
#: only the retries): five calls at most per look.
RETRY_CONFIG: dict[str, Any] = {"mode": "standard", "total_max_attempts": 5}
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 15
USER_AGENT_EXTRA = "ecr-image-waiter"


def config(*, max_attempts: int | None = None) -> Any:
    """The botocore ``Config`` of every client; ``max_attempts`` overrides the calls per look."""
    from botocore.config import Config

    retries = dict(RETRY_CONFIG)
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    return Config(
        retries=retries,  # type: ignore[arg-type]
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        user_agent_extra=USER_AGENT_EXTRA,
    )


def make_client(region: str | None = None, *, max_attempts: int | None = None) -> ECRClient:
    """An ECR client from the standard AWS configuration, with botocore's standard retries.

    ``max_attempts`` overrides the number of calls per look, the first one included.
    """
    import boto3

    return boto3.client("ecr", region_name=region, config=config(max_attempts=max_attempts))


def make_service_client(service: str, region: str | None = None) -> Any:
    """A client for another AWS service (``codebuild``, ``codepipeline``), configured like
    :func:`make_client`: standard AWS configuration, botocore's standard retries."""
    import boto3

    return boto3.client(service, region_name=region, config=config())  # type: ignore[call-overload]


def local_client(service: str, region: str, endpoint_url: str) -> Any:
    """A client on a local emulator (moto) at ``endpoint_url``, with its fake credentials and
    botocore's default configuration (the local side's own calls, not the function's)."""
    import boto3

    make: Any = boto3.client
    return make(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106  (a local emulator's fake key)
    )


def configured_region() -> str | None:
    """The region of the AWS profile in use (botocore's configuration), or None."""
    import botocore.session

    region = botocore.session.get_session().get_config_variable("region")
    return str(region) if region else None


def account_of(client: Any) -> str:
    """The caller's account (STS GetCallerIdentity in ``client``'s region)."""
    import boto3

    session = boto3.session.Session(region_name=client.meta.region_name)
    sts = session.client("sts")
    return str(sts.get_caller_identity()["Account"])


_CLIENTS: dict[tuple[str | None, ...], Any] = {}


def _key(service: str) -> tuple[str | None, ...]:
    env = os.environ
    return (
        service,
        env.get("AWS_REGION"),
        env.get("AWS_DEFAULT_REGION"),
        env.get(f"AWS_ENDPOINT_URL_{service.upper()}"),
        env.get("AWS_ENDPOINT_URL"),
    )


def shared_client(service: str) -> Any:
    """The container's client for ``service`` (``ecr``, ``dynamodb``, ``events``, ...): in
    Lambda the environment never changes, so one per container; a changed endpoint or
    region gets its own. Raises botocore's errors when no client can be made (no region)."""
    key = _key(service)
    client = _CLIENTS.get(key)
    if client is None:
        client = make_service_client(service)
        _CLIENTS[key] = client
    return client


def try_shared_client(service: str) -> Any | None:
    """:func:`shared_client`, or None when it cannot be made yet (the caller then makes its
    own on first use and reports the failure as an observation with its remedy)."""
    try:
        return shared_client(service)
    except setup_errors():
        return None


# --- botocore's errors ----------------------------------------------------------------------


def sdk_errors() -> tuple[type[Exception], ...]:
    """The exceptions an AWS call raises for an answer or a failure to get one (botocore's
    ``ClientError`` and ``BotoCoreError``), for ``except sdk_errors() as error:``."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def setup_errors() -> tuple[type[Exception], ...]:
    """The exceptions botocore raises when a client or the configuration cannot be read."""
    from botocore.exceptions import BotoCoreError

    return (BotoCoreError,)


@dataclass(frozen=True)
class Failure:
    """A failed AWS call as the classification table reads it.

    ``code`` is the error code of an answer (safe text, ``Unknown`` if absent),
    ``ConnectionError`` for a network failure, else botocore's exception name; ``message``
    the answer's message or the exception's text (not yet made safe); ``status`` the HTTP
    status, if any; ``cause`` one of ``answer``, ``credentials``, ``region``, ``connection``
    and ``other``; ``answer_message`` the answer's ``Message`` field as given (None if none).
    """

    code: str
    message: str
    status: int | None
    cause: str
    answer_message: Any = None


def failure_of(error: BaseException) -> Failure:
    """What a botocore exception from an AWS call says (see :class:`Failure`)."""
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = safe_text(err.get("Code") or "Unknown", 100)
        given = err.get("Message")
        return Failure(code, str(given or error), status, "answer", given)
    name = type(error).__name__
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return Failure(name, str(error), None, "credentials")
    if isinstance(error, NoRegionError):
        return Failure(name, str(error), None, "region")
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return Failure("ConnectionError", str(error), None, "connection")
    return Failure(name, str(error), None, "other")


def observation_of(
    code: str,
    message: str,
    *,
    status: int | None = None,
    action: str | None = None,
    wait_for_repository: bool = False,
) -> Observation:
    """ECR's answer ``code`` as an observation, by the classification table; ``action`` (the
    IAM action that was called) is kept only when the answer is an access denial."""
    rule = classify(code, status=status, wait_for_repository=wait_for_repository)
    return Observation(
        rule.verdict,
        code,
        message,
        kind=rule.kind,
        remedy=rule.remedy,
        action=action if rule.kind is NeverReason.ACCESS_DENIED else None,
    )


def from_client_error(error: Any, action: str, *, wait_for_repository: bool = False) -> Observation:
    """A botocore ``ClientError`` from calling ``action``, classified by its code and status."""
    failure = failure_of(error)
    return observation_of(
        failure.code,
        safe_text(failure.message, 500),
        status=failure.status,
        action=action,
        wait_for_repository=wait_for_repository,
    )
