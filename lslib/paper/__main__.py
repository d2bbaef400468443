"""``python -m lslib.paper book/grid.yml``: the paper's grid (``build.grid``), started again
with the allocator's tunables (``build.allocator``)."""

import sys

from lslib.paper.build.allocator import restart_with_tunables
from lslib.paper.build.grid import main

if __name__ == "__main__":
    restart_with_tunables()
    sys.exit(main())
