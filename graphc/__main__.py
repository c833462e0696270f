"""``python -m graphc``: see graphc/cli.py."""

import sys

from graphc.cli import main

sys.exit(main())
