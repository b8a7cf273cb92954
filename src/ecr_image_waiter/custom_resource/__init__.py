"""Lambda code of the ``Custom::EcrImageWaiter`` resource, for the CDK Provider framework.

* :mod:`.handler`: the two Lambda entry points, ``on_event`` and ``is_complete``.
* :mod:`.properties`: the resource's properties, parsed and validated.
* :mod:`.resource`: what the handlers do, with an injectable clock and ECR lookup.
* :mod:`.logs`: one JSON line per event and per look at ECR.

Imports only the standard library, the engine and (on first use) boto3.
"""
