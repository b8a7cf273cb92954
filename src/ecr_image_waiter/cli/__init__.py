"""The ``ecr-image-waiter`` command line: ``wait`` and ``check``."""

from __future__ import annotations

from ecr_image_waiter.cli.main import ExitStatus, main, run

__all__ = ["ExitStatus", "main", "run"]
