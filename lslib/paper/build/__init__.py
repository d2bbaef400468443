"""The build machinery: the grid's command line (``grid``), its task graph (``tasks``), the
plan and schedule (``plan``, ``schedule``), the executors (``executors``: in process or on
Dask), progress, the notebook runner (``notebooks``) and the allocator's tunables."""
