"""The moto server of the benchmark: ``python -m scripts.bench.moto_main PORT``.

moto 5.2.5 does not implement ECR's GetDownloadUrlForLayer (an HTTP 500 that botocore
retries for seconds) and keeps no blobs. This server answers it as ECR does for a blob it
does not hold (:func:`ecr_image_waiter.local.support.layer_download_urls` with no URLs), so
the provider's architecture check reports the architecture unknown at once; the function,
run by the local side in its own processes, is left as deployed.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from moto.ecr.responses import ECRResponse
    from moto.server import main as serve

    from ecr_image_waiter.local.support import layer_download_urls

    ECRResponse.get_download_url_for_layer = layer_download_urls({})  # type: ignore[method-assign, assignment]
    serve(["-H", "127.0.0.1", "-p", argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
