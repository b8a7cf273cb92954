"""The moto server of the benchmark: ``python -m scripts.bench.moto_main PORT``.

moto 5.2.5 does not implement ECR's GetDownloadUrlForLayer (an HTTP 500 that botocore
retries for seconds) and keeps no blobs. This server answers it as ECR does for a blob it
does not hold, so the provider's architecture check reports the architecture unknown at
once; the function, run by the local side in its own processes, is left as deployed.
"""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str]) -> int:
    from moto.core.exceptions import ServiceException
    from moto.ecr.responses import ECRResponse
    from moto.server import main as serve

    class LayersNotFoundException(ServiceException):
        code = "LayersNotFoundException"

    def get_download_url_for_layer(self: Any) -> None:
        digest = self._get_param("layerDigest")
        raise LayersNotFoundException(f"The specified layer {digest} does not exist")

    ECRResponse.get_download_url_for_layer = get_download_url_for_layer  # type: ignore[method-assign]
    serve(["-H", "127.0.0.1", "-p", argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
