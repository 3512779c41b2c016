"""The pipeline's stages: thin Typer commands over core."""
