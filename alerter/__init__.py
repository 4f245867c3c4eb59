"""alerter: watch a host's logs and metrics, alert on rules, and act on what misbehaves."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alerter")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
