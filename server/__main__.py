"""``python -m server``: the same as ``rosie serve``."""

import sys

from model.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
