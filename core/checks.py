"""The one error for a setting out of its range, naming the setting as params.yaml does."""

from __future__ import annotations


class SettingError(ValueError):
    """A setting that is not what it must be: its name (alpha, epochs, ..., the train key it comes
    from), what it must be, and what it was."""

    def __init__(self, name: str, expected: str, found: object) -> None:
        super().__init__(f"{name} must be {expected}, found {found!r}")
        self.name, self.expected, self.found = name, expected, found


def require(ok: bool, name: str, expected: str, found: object) -> None:
    if not ok:
        raise SettingError(name, expected, found)
