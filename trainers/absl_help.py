"""Runs an absl program of trainers/ so that `--help` exits with status 0.

absl answers `--help` by printing the help and exiting with status 1, which
a shell or a CI script reads as a failure.
"""

import sys

from absl import app

HELP_FLAGS = ("-h", "-?", "--help", "--helpshort", "--helpfull")


def run(main):
    """`app.run(main)`, except that a help request prints the help and exits 0."""
    asked = [arg for arg in sys.argv[1:] if arg in HELP_FLAGS]
    if asked:
        app.usage(shorthelp=asked[0] != "--helpfull", writeto_stdout=True, exitcode=0)
    app.run(main)
