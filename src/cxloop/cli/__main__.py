"""``python -m cxloop.cli``: the ``cxloop`` command."""

from cxloop.cli import main

main()
