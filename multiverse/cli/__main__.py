"""``python -m multiverse.cli``: the same as the ``multiverse`` console script."""

import sys

from multiverse.cli.main import main

sys.exit(main())
