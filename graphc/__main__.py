"""``python -m graphc``: see graphc/cli.py."""

import os
import sys

from graphc.cli import main

try:
    status = main()
    sys.stdout.flush()  # a closed pipe shows here, inside the try, not in the interpreter's last flush
except BrokenPipeError:
    # the reader went away (``python -m graphc info m.json | head``): nothing is left to say, as for
    # cat or ls; stdout goes to devnull so that the interpreter's flush at exit does not fail again
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    status = 1
sys.exit(status)
