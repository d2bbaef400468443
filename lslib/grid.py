"""``python -m lslib.grid``: the same as ``python -m lslib.paper.grid`` (the paper's grid)."""

import sys

from lslib.paper.grid import main

if __name__ == "__main__":
    from lslib.paper.allocator import restart_with_tunables

    restart_with_tunables()
    sys.exit(main())
