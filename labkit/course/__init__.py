"""Running the course: the ``labkit`` command, the notebook runner and report, notebook tools, records.

- :mod:`.cli`      ``labkit run | sweep | train | ship | card | doctor | bench``
- :mod:`.runner`   executes notebooks with papermill, samples peak memory, writes ``outputs/report.{md,html}``
- :mod:`.sweep`    ``labkit sweep``: one notebook over a grid, on the local executor or a Dask cluster
- :mod:`.nbtools`  the annotated parameters cell, fact cells, output stripping
- :mod:`.record`   how a notebook reports its key numbers and videos to the runner
"""
