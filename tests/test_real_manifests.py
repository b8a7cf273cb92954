"""Manifests in the shapes real public images have (tests/fixtures/registry), pushed to a local
ECR (moto in process) and run through the engine, the CLI and the text the custom resource's
FAILED reason is made from.

Each case gives the verdict Lambda would: an image index resolves to its child for the
architecture (Lambda takes the child, not the index); a schema 1 image, a signature, a SOCI
index, an SBOM, a Helm chart and an index of artifacts are never images; each message names
what was found, and the remedy fits it — buildx's ``--provenance=false`` only for indexes and
attestations.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ecr_image_waiter.cli.main import ExitStatus, main
from ecr_image_waiter.engine import (
    EcrLookup,
    LambdaImageInspector,
    Verdict,
    never_error,
    parse_reference,
)
from tests.hostile import assert_safe
from tests.manifests import DOCKER_V1_SIGNED

FIXTURES = Path(__file__).parent / "fixtures" / "registry"
REPO = "public/app"
BUILDX = "--provenance=false"


def text_of(name: str) -> str:
    return (FIXTURES / name).read_text()


def digest_of(name: str) -> str:
    return "sha256:" + hashlib.sha256(text_of(name).encode()).hexdigest()


@dataclass(frozen=True)
class Ready:
    """READY, pinning ``file`` (the case's own file when None)."""

    file: str | None = None


@dataclass(frozen=True)
class Never:
    code: str
    says: str
    remedy: str
    buildx: bool = False


@dataclass(frozen=True)
class Case:
    file: str
    #: (architecture, Lambda checks) -> expected outcome; missing pairs are not asserted.
    expect: dict[tuple[str, bool], Ready | Never]


SCHEMA1 = Never("UnsupportedMediaType", "schema 1", "rebuild the image with a current Docker")
COSIGN = Never("NotAnImage", "cosign signature", "point the waiter at the image's own tag")
NOTATION = Never("NotAnImage", "Notation signature", "point the waiter at the image's own tag")
SOCI = Never("NotAnImage", "SOCI index", "lazy-load the image it indexes")
SBOM = Never("NotAnImage", "SPDX SBOM", "an SBOM describes an image")
HELM = Never("NotAnImage", "Helm chart", "a Helm chart is not a container image")
ARTIFACTS = Never("NotAnImage", "index of artifacts", "point the waiter at a container image")
ATTESTATION = Never("NotAnImage", "buildx attestation", BUILDX, buildx=True)
NO_LAYERS = Never("NotAnImage", "has no layers", "point the waiter at a container image")
ARM_ONLY = Never(
    "NoMatchingPlatform",
    "platforms in the index: linux/arm64",
    "give the waiter and the function architecture arm64",
)

CASES = [
    Case(
        "buildx-index-attestations.json",
        {
            ("x86_64", True): Ready("buildx-child-amd64.json"),
            ("arm64", True): Ready("buildx-child-arm64.json"),
            ("x86_64", False): Ready("buildx-child-amd64.json"),
        },
    ),
    Case(
        "buildx-index-arm64-only.json",
        {
            ("x86_64", True): ARM_ONLY,
            ("x86_64", False): ARM_ONLY,
            ("arm64", True): Ready("buildx-arm64-only-child.json"),
        },
    ),
    Case(
        "docker-manifest-list.json",
        {
            ("x86_64", True): Ready("manifest-list-child-amd64.json"),
            ("arm64", True): Ready("manifest-list-child-arm64v8.json"),
        },
    ),
    Case(
        "docker-manifest-list-windows-first.json",
        {("x86_64", True): Ready("multi-os-child-linux.json")},
    ),
    Case(
        "soci-v2-image-index.json",
        {
            # The SOCI entry comes first and carries the image's platform: never a candidate.
            ("x86_64", True): Ready("soci-v2-image.json"),
            ("x86_64", False): Ready("soci-v2-image.json"),
        },
    ),
    Case("schema1-signed.json", {("x86_64", True): SCHEMA1, ("x86_64", False): Ready()}),
    Case("cosign-signature.json", {("x86_64", True): COSIGN, ("x86_64", False): Ready()}),
    Case("notation-signature.json", {("x86_64", True): NOTATION, ("x86_64", False): Ready()}),
    Case("soci-index-v1.json", {("x86_64", True): SOCI, ("x86_64", False): Ready()}),
    Case("soci-v2-index-manifest.json", {("x86_64", True): SOCI}),
    Case("sbom-spdx-artifact.json", {("x86_64", True): SBOM, ("x86_64", False): Ready()}),
    Case("helm-chart.json", {("x86_64", True): HELM, ("x86_64", False): Ready()}),
    Case("artifact-index.json", {("x86_64", True): ARTIFACTS, ("x86_64", False): ARTIFACTS}),
    Case("buildx-attestation-as-tag.json", {("x86_64", True): ATTESTATION}),
    Case("no-layers-image.json", {("x86_64", True): NO_LAYERS, ("x86_64", False): Ready()}),
    Case("oci-image.json", {("x86_64", True): Ready(), ("arm64", True): Ready()}),
    Case("docker-v2-image.json", {("x86_64", True): Ready()}),
]


def media_type_of(name: str) -> str:
    body = json.loads(text_of(name))
    return str(body.get("mediaType") or DOCKER_V1_SIGNED)


@pytest.fixture
def registry(moto_ecr: Any) -> Any:
    """Every fixture pushed by digest, as a registry holds them."""
    moto_ecr.create_repository(repositoryName=REPO)
    for path in sorted(FIXTURES.glob("*.json")):
        moto_ecr.put_image(
            repositoryName=REPO,
            imageManifest=path.read_text(),
            imageDigest=digest_of(path.name),
            imageManifestMediaType=media_type_of(path.name),
        )
    return moto_ecr


def tag(ecr: Any, name: str) -> str:
    label = name.removesuffix(".json")[:100]
    ecr.put_image(
        repositoryName=REPO,
        imageManifest=text_of(name),
        imageDigest=digest_of(name),
        imageManifestMediaType=media_type_of(name),
        imageTag=label,
    )
    return f"{REPO}:{label}"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, env=os.environ)
    return int(status), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("case", CASES, ids=[case.file.removesuffix(".json") for case in CASES])
def test_real_manifest_shapes(registry: Any, case: Case) -> None:
    image = tag(registry, case.file)
    ref = parse_reference(image)
    for (architecture, lambda_compatible), expected in case.expect.items():
        where = (case.file, architecture, lambda_compatible)
        inspector = LambdaImageInspector(architecture, lambda_compatible=lambda_compatible)
        observation = EcrLookup(inspector=inspector).look(ref)
        flags = ["--architecture", architecture] + (["--lambda"] if lambda_compatible else [])
        status, out, err = cli("check", image, *flags)
        assert_safe(out, err, observation.summary, observation.remedy)
        if isinstance(expected, Ready):
            pinned = digest_of(expected.file or case.file)
            assert observation.verdict is Verdict.READY, (where, observation.summary)
            assert observation.image.digest == pinned, where
            assert status == ExitStatus.OK, (where, err)
            assert out.strip().endswith(f"@{pinned}"), where
            continue
        assert observation.verdict is Verdict.NEVER, (where, observation.summary)
        assert observation.code == expected.code, (where, observation.summary)
        assert expected.says in observation.message, (where, observation.message)
        assert expected.remedy in observation.remedy, (where, observation.remedy)
        assert (BUILDX in observation.remedy) is expected.buildx, (where, observation.remedy)
        assert status == ExitStatus.NEVER, (where, err)
        assert out == ""
        assert expected.says in err, (where, err)
        assert expected.remedy in err, (where, err)
        # The FAILED reason the custom resource sends is this error's text.
        reason = str(never_error(observation, ref, attempts=1, waited_seconds=0.0))
        assert expected.says in reason
        assert expected.remedy in reason
        assert len(reason.encode()) < 4096


def test_check_says_when_the_architecture_was_not_verified(registry: Any) -> None:
    image = tag(registry, "oci-image.json")  # the local ECR holds no config blob
    for flags in (["--lambda"], ["--lambda", "--json"]):
        status, out, err = cli("check", image, *flags)
        assert status == ExitStatus.OK, err
        assert f"ecr-image-waiter: warning: {image}: architecture not verified: " in err
        assert "LayersNotFoundException" in err
    record = json.loads(out)
    assert "LayersNotFoundException" in record["architectureUnknownReason"]
    # Without the Lambda checks the architecture is not looked for: nothing to warn about.
    status, _out, err = cli("check", image)
    assert status == ExitStatus.OK
    assert "warning" not in err
