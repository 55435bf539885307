"""Why a model fails: detection versus segmentation, which distractor, which samples.

These modules read records: :mod:`.summary` aggregates the per-sample glyph analysis that
:mod:`oneshotbench.glyph_analysis` computed while scoring, :mod:`.figures` and :mod:`.page` draw
and write it. Only the ``analyze`` command imports them.
"""
