"""``python -m tidings`` is the ``tidings`` command (handy where the console script is not on PATH)."""

from tidings.cli.main import main

main()
