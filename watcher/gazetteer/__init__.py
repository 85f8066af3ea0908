"""The gazetteer: the world's places beneath the curated lists that rules and alerts name.

Owns the GeoNames world layer (`geonames`) and its data files (`data/`, built by
`tools/build_geonames.py`). It may import `watcher.text` and `watcher.models`; nothing that does
I/O beyond reading its own read-only data files.
"""
