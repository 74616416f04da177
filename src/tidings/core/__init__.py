"""The core every layer stands on: records (the data model), settings, coded errors, optional extras and the
codebook (type knowledge read from data/plover.json). Imports nothing else of tidings.
"""

__version__ = "0.1.0"
