"""medbridge's evaluation engine: sources -> MCQ docs -> lmms-eval tasks -> grader -> metrics -> records."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medbridge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
