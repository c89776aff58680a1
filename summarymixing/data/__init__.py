"""Dataset preparation and the bundled mini corpus.

- :mod:`summarymixing.data.mini`: the synthetic pool laid out in each dataset's real format (``mini.layout``).
- One preparer per dataset, with SpeechBrain's recipe signatures: :mod:`~summarymixing.data.librispeech`,
  :mod:`~summarymixing.data.librilight`, :mod:`~summarymixing.data.commonvoice`, :mod:`~summarymixing.data.slurp`,
  :mod:`~summarymixing.data.iemocap`, :mod:`~summarymixing.data.voxceleb`, :mod:`~summarymixing.data.voxpopuli`.
- :mod:`summarymixing.data.tokenizer`: SentencePiece training from a manifest.
- :mod:`summarymixing.data.manifest`: what the preparers share (skipping, parallel headers, atomic CSVs, errors).
- ``tools/generate_mini.py``: the generator of the pool (needs espeak-ng, flite and sox).
"""
