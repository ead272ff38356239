"""Errors that carry a message meant for the user: which file, what is wrong, how to fix it."""


class InputError(ValueError):
    """Bad input data (zip member, image, mask) or configuration.

    The message always names the offending file or key and says what to do about it.
    """

    def __init__(self, path: str, problem: str, fix: str):
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {problem}. Fix: {fix}")


class NoMasksFolder(InputError):
    """A paired layout's input without a masks folder: likely images without masks (``test_input`` says so)."""
