"""Pure-NumPy neural networks for the Digit Recognizer: no dependency beyond NumPy."""
