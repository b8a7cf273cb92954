"""Local stand-ins for AWS machinery, used by the tests, the demo and the benchmarks."""

from __future__ import annotations

from ecr_image_waiter.local.framework import ProviderResult, make_request, run_custom_resource

__all__ = ["ProviderResult", "make_request", "run_custom_resource"]
