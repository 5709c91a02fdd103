"""``python -m discord_bot``: the same as ``rosie discord``."""

import sys

from model.cli import main

sys.exit(main(["discord", *sys.argv[1:]]))
