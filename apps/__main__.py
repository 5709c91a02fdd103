"""``python -m apps ...``: the ``rosie`` command."""

import sys

from apps.cli import main

sys.exit(main())
