"""tidings: news reports in, evidenced and attributed PLOVER events out."""

__version__ = "0.1.0"
