"""``python -m mfn_tracker`` runs the CLI."""

from mfn_tracker.cli import main

main()
