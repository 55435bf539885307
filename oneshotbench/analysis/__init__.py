"""Why a model fails: detection versus segmentation, which distractor, which samples.

:mod:`.glyphs` is the per-sample kernel the runner calls while scoring (metrics layer: numpy
only). The record-level modules (:mod:`.summary`, :mod:`.figures`, :mod:`.page`) read records and
are imported by the ``analyze`` command only.
"""
