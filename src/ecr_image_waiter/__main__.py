"""``python -m ecr_image_waiter``: the same as the ``ecr-image-waiter`` command."""

from __future__ import annotations

from ecr_image_waiter.cli.main import run

if __name__ == "__main__":
    run()
