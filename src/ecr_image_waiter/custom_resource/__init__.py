"""Lambda code of the ``Custom::EcrImageWaiter`` provider: one event-driven function.

* :mod:`.handler`: the entry point, routing CloudFormation requests, ECR push events, build
  events and the sweep.
* :mod:`.waits`: what each of them does; :mod:`.store`: the table of waits;
  :mod:`.sweep`: the sweep's switch; :mod:`.response`: the answer to CloudFormation.
* :mod:`.properties`: the resource's properties, parsed and validated.
* :mod:`.logs`: one JSON line per event and per look at ECR.

Imports only the standard library, the engine and (on first use) boto3.
"""
