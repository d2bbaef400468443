"""``python -m lslib.grid``: the same as ``python -m lslib.paper.grid`` (the paper's grid)."""

import sys

from lslib.paper.grid import main

if __name__ == "__main__":
    sys.exit(main())
