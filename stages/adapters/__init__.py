"""What the stage commands share: files and formats, params, the CLI output, CPU resources, Kaggle."""
