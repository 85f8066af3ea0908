"""Text as the matcher sees it: normalised tokens that remember their offsets (`normalize`), and
regular expressions run by RE2 in linear time (`patterns`).

The bottom of the matching core: it imports nothing of watcher's and no I/O.
"""
