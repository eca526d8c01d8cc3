"""What is shipped in ``data/`` and how it got there.

- :mod:`.manifest`  ``data/MANIFEST``: path, bytes, sha256 and the command, seed, seconds and hardware behind it
- :mod:`.records`   ``RUN.json`` run records and the chain of runs behind a folder
- :mod:`.ship`      shipping a folder into ``data/`` atomically with its provenance (``labkit ship``)

It sits below :mod:`labkit.models` (whose registry verifies every file against the manifest) and
:mod:`labkit.training` (which writes the records and ships).
"""
