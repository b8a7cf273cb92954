"""Run custom resource handlers locally, as the CDK Provider framework runs them.

A line-by-line model of the framework's runtime in aws-cdk-lib 2.275.0
(``custom-resources/lib/provider-framework/runtime/framework.js`` and ``cfn-response.js``)
and of its waiter state machine (``waiter-state-machine.js``, ``util.js``):

* ``onEvent``: a Delete whose physical id is the CREATE_FAILED marker succeeds without
  calling the user handler. Otherwise the user ``on_event`` gets the request (with the real
  ResponseURL), and its result is merged: ``{...request, ...result, PhysicalResourceId}``,
  the id defaulting to the RequestId on Create and to the old id on Update and Delete;
  changing it on Delete is an error. Without ``is_complete`` the response is sent at once.
* The waiter: one Task calling the framework's isComplete, ``Retry`` on every error with
  ``IntervalSeconds = query_interval``, ``MaxAttempts = total_timeout / query_interval``
  (a whole number, or synth fails), ``BackoffRate 1``; when retries run out, ``onTimeout``
  sends FAILED with the bare reason "Operation timed out".
* ``isComplete``: a falsy ``IsComplete`` asks for a retry, unless ``Data`` is non-empty,
  which is an error; on success the response is ``{...event, ...result}`` with ``Data`` the
  merge of the event's (on_event's) Data and the result's.
* Every failure goes through ``safeHandler``: FAILED with ``reason = e.stack``. For a user
  function error that is ``Error: <errorMessage>\\n\\nLogs: /aws/lambda/<function>\\n``
  followed by the framework's stack frames (a Python function's error payload carries
  ``stackTrace``, not the ``trace`` the framework would splice in); on Create without a
  physical id the CREATE_FAILED marker is used.
* The response body: ``{Status, Reason, StackId, RequestId, PhysicalResourceId,
  LogicalResourceId, NoEcho, Data}``, JSON, absent values left out.

Payloads go through JSON both ways, as Lambda's invoke does. The run also counts what a
deployment would pay for: user function invocations, framework function invocations and
Step Functions state transitions (each Task attempt, retries included, is one).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

from ecr_image_waiter import names

Handler = Callable[[dict[str, Any], Any], Any]

#: cfn-response.js: the physical id sent when a Create fails before it has one.
CREATE_FAILED_PHYSICAL_ID_MARKER = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"
#: cfn-response.js: the physical id sent when an event has none.
MISSING_PHYSICAL_ID_MARKER = "AWSCDK::CustomResourceProviderFramework::MISSING_PHYSICAL_ID"
#: framework.js onTimeout's reason.
TIMEOUT_REASON = "Operation timed out"
#: framework.js isComplete's error for Data with IsComplete false.
DATA_NOT_ALLOWED = '"Data" is not allowed if "IsComplete" is "False"'
#: The framework functions' timeout (provider.js FRAMEWORK_HANDLER_TIMEOUT, 15 minutes).
FRAMEWORK_FUNCTION_TIMEOUT_SECONDS = 900.0

#: Stack frames of the framework's Error objects (V8 format; file positions from the
#: minified 2.275.0 runtime). They end the FAILED reason, as includeStackTraces is true.
_FRAMES = {
    "onEvent": (
        "    at invokeUserFunction (/var/task/framework.js:1:4306)",
        "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)",
        "    at async onEvent (/var/task/framework.js:1:1391)",
        "    at async Runtime.handler (/var/task/cfn-response.js:1:2865)",
    ),
    "isComplete": (
        "    at invokeUserFunction (/var/task/framework.js:1:4306)",
        "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)",
        "    at async isComplete (/var/task/framework.js:1:2608)",
        "    at async Runtime.handler (/var/task/cfn-response.js:1:2865)",
    ),
    "createResponseEvent": (
        "    at createResponseEvent (/var/task/framework.js:1:4706)",
        "    at onEvent (/var/task/framework.js:1:1391)",
        "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)",
        "    at async Runtime.handler (/var/task/cfn-response.js:1:2865)",
    ),
    "isCompleteData": (
        "    at isComplete (/var/task/framework.js:1:3018)",
        "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)",
        "    at async Runtime.handler (/var/task/cfn-response.js:1:2865)",
    ),
}


class ProviderResult(TypedDict):
    """The response CloudFormation receives, and what the run cost."""

    Status: Literal["SUCCESS", "FAILED"]
    Reason: str
    PhysicalResourceId: str
    StackId: Any
    RequestId: Any
    LogicalResourceId: Any
    Data: dict[str, Any] | None
    NoEcho: Any
    #: The JSON body as sent to the ResponseURL, and its size in UTF-8 bytes.
    body: str
    response_bytes: int
    response_within_limit: bool
    on_event_calls: int
    is_complete_calls: int
    #: User handler invocations plus the framework's own functions.
    lambda_invocations: int
    framework_invocations: int
    state_transitions: int
    #: Seconds on the run's clock from the request to the response.
    elapsed_seconds: float


class _Retry(Exception):
    """cfn-response.js Retry: isComplete asks the state machine to try again."""


class _FrameworkError(Exception):
    """An Error thrown in the framework; ``stack`` is what safeHandler sends as the reason."""

    def __init__(self, message: str, frames: tuple[str, ...], name: str = "Error") -> None:
        super().__init__(message)
        self.stack = "\n".join((f"{name}: {message}", *frames))


class _Context:
    """The parts of the Lambda context object a handler may use."""

    def __init__(self, function_name: str, clock: Callable[[], float], timeout: float) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self._clock = clock
        self._end = clock() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - self._clock()) * 1000))


class _Run:
    def __init__(
        self,
        clock: Callable[[], float],
        on_event_name: str,
        is_complete_name: str,
        handler_timeout: float,
    ) -> None:
        self.clock = clock
        self.names = {"on_event": on_event_name, "is_complete": is_complete_name}
        self.handler_timeout = handler_timeout
        self.on_event_calls = 0
        self.is_complete_calls = 0
        self.framework_invocations = 0
        self.state_transitions = 0

    def invoke(self, which: str, handler: Handler, payload: Mapping[str, Any], site: str) -> Any:
        """framework.js invokeUserFunction: JSON in, JSON out, errors as the framework builds
        them (the Python runtime's error payload: errorMessage = str(exception))."""
        if which == "on_event":
            self.on_event_calls += 1
        else:
            self.is_complete_calls += 1
        function_name = self.names[which]
        event = json.loads(json.dumps(payload))
        context = _Context(function_name, self.clock, self.handler_timeout)
        try:
            result = handler(event, context)
            text = json.dumps(result)
        except (TypeError, ValueError) as error:
            message = f"Unable to marshal response: {error}"
            raise _user_error(message, function_name, site) from error
        except Exception as error:  # the Lambda runtime reports every error the same way
            raise _user_error(str(error) or "error", function_name, site) from error
        return json.loads(text)


def _user_error(message: str, function_name: str, site: str) -> _FrameworkError:
    text = "\n".join((message, "", f"Logs: /aws/lambda/{function_name}", ""))
    return _FrameworkError(text, _FRAMES[site])


def _truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value."""
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def _submit(
    run: _Run,
    start: float,
    status: Literal["SUCCESS", "FAILED"],
    event: Mapping[str, Any],
    *,
    reason: str | None = None,
    no_echo: Any = None,
) -> ProviderResult:
    """cfn-response.js submitResponse: the body CloudFormation receives."""
    body: dict[str, Any] = {
        "Status": status,
        "Reason": reason or status,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "PhysicalResourceId": event.get("PhysicalResourceId") or MISSING_PHYSICAL_ID_MARKER,
        "LogicalResourceId": event.get("LogicalResourceId"),
        "NoEcho": no_echo,
        "Data": event.get("Data"),
    }
    # JSON.stringify leaves out undefined values.
    sent = {key: value for key, value in body.items() if value is not None}
    text = json.dumps(sent, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode("utf-8"))
    user = run.on_event_calls + run.is_complete_calls
    return ProviderResult(
        Status=status,
        Reason=body["Reason"],
        PhysicalResourceId=body["PhysicalResourceId"],
        StackId=body["StackId"],
        RequestId=body["RequestId"],
        LogicalResourceId=body["LogicalResourceId"],
        Data=body["Data"],
        NoEcho=no_echo,
        body=text,
        response_bytes=size,
        response_within_limit=size <= names.CLOUDFORMATION_RESPONSE_MAX_BYTES,
        on_event_calls=run.on_event_calls,
        is_complete_calls=run.is_complete_calls,
        lambda_invocations=user + run.framework_invocations,
        framework_invocations=run.framework_invocations,
        state_transitions=run.state_transitions,
        elapsed_seconds=run.clock() - start,
    )


def _failed(
    run: _Run, start: float, event: dict[str, Any], error: _FrameworkError
) -> ProviderResult:
    """cfn-response.js safeHandler's catch."""
    if not event.get("PhysicalResourceId") and event.get("RequestType") == "Create":
        event["PhysicalResourceId"] = CREATE_FAILED_PHYSICAL_ID_MARKER
    return _submit(run, start, "FAILED", event, reason=error.stack)


def max_attempts(query_interval: float, total_timeout: float) -> int:
    """util.js calculateRetryPolicy: total_timeout / query_interval, a whole number."""
    if query_interval <= 0 or total_timeout <= 0:
        raise ValueError("query_interval and total_timeout must be more than 0 seconds")
    attempts = total_timeout / query_interval
    if round(attempts) != attempts:
        raise ValueError(
            f"Cannot determine retry count since totalTimeout={total_timeout:g}s is not "
            f"integrally dividable by queryInterval={query_interval:g}s"
        )
    return int(attempts)


def run_custom_resource(
    request: Mapping[str, Any],
    *,
    on_event: Handler,
    is_complete: Handler | None = None,
    query_interval: float = names.DEFAULT_QUERY_INTERVAL_SECONDS,
    total_timeout: float = 30 * 60,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    function_name: str = "EcrImageWaiterHandler",
    is_complete_function_name: str | None = None,
    handler_timeout: float = FRAMEWORK_FUNCTION_TIMEOUT_SECONDS,
) -> ProviderResult:
    """Run one CloudFormation ``request`` through the handlers as the Provider framework does.

    Returns the response CloudFormation would receive, with the run's counters. ``clock`` and
    ``sleep`` drive the waiter's intervals (share a fake clock with the handlers to run
    without waiting). ``handler_timeout`` is what the context's remaining time counts from.
    """
    retries_allowed = max_attempts(query_interval, total_timeout) if is_complete else 0
    run = _Run(clock, function_name, is_complete_function_name or function_name, handler_timeout)
    start = clock()
    cfn_request: dict[str, Any] = json.loads(json.dumps(dict(request)))

    # framework onEvent, inside safeHandler.
    run.framework_invocations += 1
    if (
        cfn_request.get("RequestType") == "Delete"
        and cfn_request.get("PhysicalResourceId") == CREATE_FAILED_PHYSICAL_ID_MARKER
    ):
        return _submit(run, start, "SUCCESS", cfn_request)
    # The user function sees the request as it came (ResourceProperties defaulted after).
    payload = dict(cfn_request)
    cfn_request["ResourceProperties"] = cfn_request.get("ResourceProperties") or {}
    try:
        result = run.invoke("on_event", on_event, payload, "onEvent")
        resource_event = _response_event(cfn_request, result)
    except _FrameworkError as error:
        return _failed(run, start, cfn_request, error)
    if is_complete is None:
        return _submit(run, start, "SUCCESS", resource_event, no_echo=resource_event.get("NoEcho"))

    # The waiter state machine: the Task, its Retry, its Catch -> onTimeout.
    event = json.loads(json.dumps(resource_event))
    retries = 0
    while True:
        run.state_transitions += 1
        run.framework_invocations += 1
        try:
            return _framework_is_complete(run, start, event, is_complete)
        except _Retry:
            if retries >= retries_allowed:
                break
            retries += 1
            sleep(query_interval)
    run.state_transitions += 1
    run.framework_invocations += 1
    return _submit(run, start, "FAILED", event, reason=TIMEOUT_REASON)


def _response_event(cfn_request: dict[str, Any], result: Any) -> dict[str, Any]:
    """framework.js createResponseEvent."""
    result = result if _truthy(result) else {}
    if not isinstance(result, dict):
        result = {}
    request_type = cfn_request.get("RequestType")
    physical_id = result.get("PhysicalResourceId")
    if not _truthy(physical_id):
        if request_type == "Create":
            physical_id = cfn_request.get("RequestId")
        elif request_type in ("Update", "Delete"):
            physical_id = cfn_request.get("PhysicalResourceId")
        else:
            raise _FrameworkError(
                f'Invalid "RequestType" in request "{json.dumps(cfn_request)}"',
                _FRAMES["createResponseEvent"],
            )
    if request_type == "Delete" and physical_id != cfn_request.get("PhysicalResourceId"):
        raise _FrameworkError(
            "DELETE: cannot change the physical resource ID from "
            f'"{cfn_request.get("PhysicalResourceId")}" to "{result.get("PhysicalResourceId")}" '
            "during deletion",
            _FRAMES["createResponseEvent"],
        )
    return {**cfn_request, **result, "PhysicalResourceId": physical_id}


def _framework_is_complete(
    run: _Run, start: float, event: dict[str, Any], is_complete: Handler
) -> ProviderResult:
    """framework.js isComplete inside safeHandler; raises _Retry to ask for another try."""
    try:
        result = run.invoke("is_complete", is_complete, event, "isComplete")
        if not isinstance(result, dict):
            # `isCompleteResult.IsComplete` on null or a non-object.
            raise _FrameworkError(
                f"Cannot read properties of {json.dumps(result)} (reading 'IsComplete')",
                _FRAMES["isCompleteData"],
                name="TypeError",
            )
        if not _truthy(result.get("IsComplete")):
            data = result.get("Data")
            if isinstance(data, dict) and len(data) > 0:
                raise _FrameworkError(DATA_NOT_ALLOWED, _FRAMES["isCompleteData"])
            raise _Retry
    except _FrameworkError as error:
        return _failed(run, start, dict(event), error)
    data = {**(event.get("Data") or {}), **(result.get("Data") or {})}
    response = {**event, **result, "Data": data}
    return _submit(run, start, "SUCCESS", response, no_echo=event.get("NoEcho"))


def make_request(
    request_type: Literal["Create", "Update", "Delete"],
    properties: Mapping[str, str],
    *,
    old_properties: Mapping[str, str] | None = None,
    physical_id: str | None = None,
    logical_id: str = "ImageWaiter",
    stack_name: str = "LocalStack",
    service_token: str = "arn:aws:lambda:us-east-1:123456789012:function:EcrImageWaiterProvider",  # noqa: S107  (an ARN)
    region: str = "us-east-1",
    account: str = "123456789012",
    request_id: str | None = None,
) -> dict[str, Any]:
    """A CloudFormation custom resource request as the service sends it.

    The ResponseURL is a fake presigned S3 URL (nothing is ever sent to it). Update and
    Delete need ``physical_id``; Update also ``old_properties``.
    """
    request_id = request_id or str(uuid.uuid4())
    stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"{account}/{region}/{stack_name}")
    stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/{stack_uuid}"
    props = {names.PROP_SERVICE_TOKEN: service_token, **properties}
    url = (
        f"https://cloudformation-custom-resource-response-{region.replace('-', '')}"
        f".s3.amazonaws.com/{stack_id.replace(':', '%3A').replace('/', '%2F')}%7C{logical_id}"
        f"%7C{request_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T000000Z"
        f"&X-Amz-SignedHeaders=host&X-Amz-Expires=7200"
        f"&X-Amz-Credential=AKIAFAKEPRESIGNED%2F20260101%2F{region}%2Fs3%2Faws4_request"
        f"&X-Amz-Signature={uuid.uuid5(uuid.NAMESPACE_URL, request_id).hex * 2}"
    )
    request: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": service_token,
        "ResponseURL": url,
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "ResourceType": names.RESOURCE_TYPE,
        "ResourceProperties": props,
    }
    if request_type != "Create":
        if physical_id is None:
            raise ValueError(f"a {request_type} request needs the resource's physical_id")
        request["PhysicalResourceId"] = physical_id
    if request_type == "Update":
        request["OldResourceProperties"] = {
            names.PROP_SERVICE_TOKEN: service_token,
            **(old_properties or {}),
        }
    return request
