"""The build machinery: the grid's command line (``grid``), its task graph (``tasks``), the
plan and schedule (``plan``, ``schedule``) with the store's recorded times behind the plan's
estimates (``store_times``), the executors (``executors``: in process or on Dask), progress,
the notebook runner (``notebooks``) and the allocator's tunables."""
