"""``python -m autocoder``: the same as the ``autocoder`` command."""

from __future__ import annotations

import sys

from autocoder.cli import main

if __name__ == "__main__":
    sys.exit(main())
