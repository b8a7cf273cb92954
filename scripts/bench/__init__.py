"""The benchmark behind docs/benchmarks.md: ``make bench`` runs ``python -m scripts.bench``.

One job per module: :mod:`.prices` (cited prices), :mod:`.original` (the original design's
model), :mod:`.provider_design` (the former design, recorded), :mod:`.event_design` (the
adapter that runs the event design; :mod:`.event_meter` counts it), :mod:`.runs` (its runs),
:mod:`.costs`, :mod:`.acceptance`, :mod:`.scale` and :mod:`.synth` (200 waiters),
:mod:`.plots`, :mod:`.report`; :mod:`.support` holds the moto server, images and a proxy.
"""
