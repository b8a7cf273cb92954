"""Image indexes, Lambda media types and architectures, against moto (in process and server)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ecr_image_waiter.engine import (
    EcrLookup,
    NeverReason,
    Verdict,
    WaitPolicy,
    parse_reference,
    wait_until_ready,
)
from ecr_image_waiter.engine.manifest import LambdaImageInspector
from ecr_image_waiter.errors import AccessDeniedError, InvalidInputError, UnusableImageError
from ecr_image_waiter.local.support import FakeClock
from tests.images import DOCKER_LIST, DOCKER_V2, OCI_INDEX, OCI_MANIFEST, push, single_manifest
from tests.manifests import (
    DOCKER_V1_SIGNED,
    HELM_CONFIG,
    attestation,
    helm_chart,
    image_index,
    push_index,
    push_raw,
    schema1,
)

REPO = "app/fn"
PLATFORM_OF = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


def look(tag: str, architecture: str = "x86_64", *, lambda_compatible: bool = True) -> Any:
    inspector = LambdaImageInspector(architecture, lambda_compatible=lambda_compatible)
    return EcrLookup(inspector=inspector).look(parse_reference(f"{REPO}:{tag}"))


@pytest.fixture
def ecr(moto_ecr: Any) -> Any:
    moto_ecr.create_repository(repositoryName=REPO)
    return moto_ecr


@pytest.mark.parametrize("index_type", [OCI_INDEX, DOCKER_LIST])
@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_index_resolves_to_the_child_for_the_architecture(
    ecr: Any, index_type: str, architecture: str
) -> None:
    index = image_index(media_type=index_type)
    push_index(ecr, REPO, index, "v1")
    observation = look("v1", architecture)
    assert observation.verdict is Verdict.READY, observation.summary
    image = observation.image
    platform = PLATFORM_OF[architecture]
    assert image.digest == index.child_digest(platform)
    assert image.index_digest == index.digest
    assert image.architecture == architecture
    assert image.media_type == (DOCKER_V2 if index_type == DOCKER_LIST else OCI_MANIFEST)
    assert image.image_uri.endswith(f"/{REPO}@{index.child_digest(platform)}")
    assert image.to_dict()["indexDigest"] == index.digest
    assert platform in observation.message


def test_index_resolution_without_lambda_checks(ecr: Any) -> None:
    index = image_index()
    push_index(ecr, REPO, index, "v1")
    observation = look("v1", "arm64", lambda_compatible=False)
    assert observation.verdict is Verdict.READY
    assert observation.image.digest == index.child_digest("linux/arm64")


def test_child_not_pushed_yet_is_not_yet_then_ready(ecr: Any) -> None:
    index = image_index()
    push_index(ecr, REPO, index, "v2", skip=("linux/arm64",))
    ref = parse_reference(f"{REPO}:v2")
    lookup = EcrLookup(inspector=LambdaImageInspector("arm64"))
    clock = FakeClock(0.0)
    seen: list[Any] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        push(ecr, REPO, index.children["linux/arm64"])

    result = wait_until_ready(
        lambda: lookup.look(ref),
        WaitPolicy(60, 5),
        ref,
        clock=clock,
        sleep=sleep,
        on_attempt=seen.append,
    )
    assert result.attempts == 2
    assert clock.sleeps == [5]
    first = seen[0].observation
    assert first.verdict is Verdict.NOT_YET
    assert first.code == "ImageNotFound"
    assert index.child_digest("linux/arm64") in first.message
    assert result.image.digest == index.child_digest("linux/arm64")


def test_only_arm64_asked_for_x86_64_ends_at_once(ecr: Any) -> None:
    index = image_index(("linux/arm64",))
    push_index(ecr, REPO, index, "arm")
    ref = parse_reference(f"{REPO}:arm")
    lookup = EcrLookup(inspector=LambdaImageInspector("x86_64"))
    with pytest.raises(UnusableImageError) as info:
        wait_until_ready(lambda: lookup.look(ref), WaitPolicy(600, 5), ref, sleep=pytest.fail)
    error = info.value
    assert error.attempts == 1
    assert error.last_code == "NoMatchingPlatform"
    text = str(error)
    assert "linux/arm64" in text
    assert "x86_64" in text
    assert "docker buildx build --platform linux/amd64" in text
    assert "architecture arm64" in text
    assert "unknown" not in text  # the attestation is not listed as a platform


def test_index_of_attestations_only_has_no_platform(ecr: Any) -> None:
    proof = attestation("sha256:" + "a" * 64)
    index_text = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": push(ecr, REPO, proof),
                    "size": len(proof),
                    "platform": {"architecture": "unknown", "os": "unknown"},
                }
            ],
        }
    )
    push(ecr, REPO, index_text, tag="att")
    observation = look("att")
    assert observation.verdict is Verdict.NEVER
    assert observation.kind is NeverReason.UNUSABLE_IMAGE
    assert "attestations only" in observation.message


@pytest.mark.parametrize("media_type", [DOCKER_V2, OCI_MANIFEST])
def test_single_platform_manifest_is_ready_with_unknown_architecture(
    ecr: Any, media_type: str
) -> None:
    digest = push(ecr, REPO, single_manifest("one", media_type), tag="one")
    observation = look("one", "arm64")
    assert observation.verdict is Verdict.READY
    assert observation.image.digest == digest
    assert observation.image.index_digest is None
    assert observation.image.architecture is None
    # The local ECR holds no config blob: the architecture stays unknown, and says why.
    assert "LayersNotFoundException" in observation.image.architecture_unknown_reason
    assert observation.image.media_type == media_type


def test_schema1_is_never_naming_the_media_type(ecr: Any) -> None:
    push_raw(ecr, REPO, schema1(), DOCKER_V1_SIGNED, "old")
    ref = parse_reference(f"{REPO}:old")
    lookup = EcrLookup(inspector=LambdaImageInspector())
    with pytest.raises(UnusableImageError) as info:
        wait_until_ready(lambda: lookup.look(ref), WaitPolicy(600, 5), ref, sleep=pytest.fail)
    text = str(info.value)
    assert info.value.last_code == "UnsupportedMediaType"
    assert DOCKER_V1_SIGNED in text
    assert "schema 1" in text
    # The buildx advice is for indexes and attestations: no help for a schema 1 image.
    assert "--provenance=false" not in text
    assert "rebuild the image with a current Docker or buildx" in text
    # Without the Lambda checks the same image is simply found.
    assert look("old", lambda_compatible=False).verdict is Verdict.READY


def test_helm_chart_is_not_an_image(ecr: Any) -> None:
    push(ecr, REPO, helm_chart(), tag="chart")
    observation = look("chart")
    assert observation.verdict is Verdict.NEVER
    assert observation.code == "NotAnImage"
    assert HELM_CONFIG in observation.message
    assert "Helm chart" in observation.message
    assert "--provenance=false" not in observation.remedy
    assert "a Helm chart is not a container image" in observation.remedy
    assert look("chart", lambda_compatible=False).verdict is Verdict.READY


def test_attestation_pushed_as_the_tag_is_not_an_image(ecr: Any) -> None:
    push(ecr, REPO, attestation("sha256:" + "b" * 64), tag="proof")
    observation = look("proof")
    assert observation.code == "NotAnImage"
    assert "application/vnd.in-toto+json" in observation.message
    assert "buildx attestation" in observation.message
    assert "--provenance=false" in observation.remedy  # buildx's advice fits an attestation


def test_nested_index_child_is_unsupported(ecr: Any) -> None:
    inner = image_index(("linux/amd64",), seed="inner", attestations=False)
    push_index(ecr, REPO, inner, "inner")
    outer = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_INDEX,
                    "digest": inner.digest,
                    "size": len(inner.text),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    )
    push(ecr, REPO, outer, tag="outer")
    observation = look("outer")
    assert observation.code == "UnsupportedMediaType"
    assert OCI_INDEX in observation.message


def test_batch_get_image_refused_names_the_action(ecr: Any) -> None:
    push(ecr, REPO, single_manifest("denied"), tag="v1")

    def refuse(request: Any, **_: Any) -> AWSResponse:
        body = json.dumps(
            {"__type": "AccessDeniedException", "message": "not authorized: ecr:BatchGetImage"}
        )
        return AWSResponse(request.url, 400, {}, _Raw(body.encode()))

    ecr.meta.events.register("before-send.ecr.BatchGetImage", refuse)
    ref = parse_reference(f"{REPO}:v1")
    lookup = EcrLookup(ecr, inspector=LambdaImageInspector())
    with pytest.raises(AccessDeniedError) as info:
        wait_until_ready(lambda: lookup.look(ref), WaitPolicy(60, 5), ref, sleep=pytest.fail)
    assert info.value.action == "ecr:BatchGetImage"
    assert "ecr:BatchGetImage" in str(info.value)


class _Raw:
    """The raw stream botocore reads an injected response body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def test_invalid_architecture_names_the_value() -> None:
    with pytest.raises(InvalidInputError) as info:
        LambdaImageInspector("amd64")
    assert "'amd64'" in str(info.value)
    assert "x86_64" in str(info.value)


def test_index_over_the_moto_server(server_ecr: Any) -> None:
    server_ecr.create_repository(repositoryName=REPO)
    index = image_index()
    push_index(server_ecr, REPO, index, "v1", skip=("linux/amd64",))
    ref = parse_reference(f"{REPO}:v1")
    arm = EcrLookup(inspector=LambdaImageInspector("arm64")).look(ref)
    assert arm.verdict is Verdict.READY
    assert arm.image.digest == index.child_digest("linux/arm64")
    amd = EcrLookup(inspector=LambdaImageInspector("x86_64")).look(ref)
    assert amd.verdict is Verdict.NOT_YET
    push(server_ecr, REPO, index.children["linux/amd64"])
    amd = EcrLookup(inspector=LambdaImageInspector("x86_64")).look(ref)
    assert amd.image.digest == index.child_digest("linux/amd64")
