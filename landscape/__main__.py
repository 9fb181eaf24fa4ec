"""``python -m landscape`` runs the CLI (also under ``torchrun``)."""

from landscape.cli import main

main()
