"""The pipeline's stages: one Typer command each (cli.py) over core; adapters/ holds what they share."""
