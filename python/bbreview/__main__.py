"""``python -m bbreview``: the same as the ``bbreview`` command."""

import sys

from bbreview.cli import main

sys.exit(main())
