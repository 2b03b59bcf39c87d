"""onionref: a reference lab for how recurrent networks store sequences (onion representations)."""
__version__ = "0.1.0"
