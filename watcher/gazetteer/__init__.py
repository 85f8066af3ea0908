"""The gazetteer: the world's places beneath the curated lists that rules and alerts name.

Owns the world layer (`geonames`: finding places in tokens; `context`: which of them an
article means; `worldfiles`: the memory-mapped files under `data/`, built by
`tools/build_geonames.py`). It may import `watcher.text` and `watcher.models`; nothing that does
I/O beyond reading its own read-only data files.
"""
