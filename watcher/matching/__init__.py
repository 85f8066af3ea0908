"""Matching: compiled rules against an article, and the alerts that result. Pure: no I/O.

Owns the matcher that compiles every rule into one multi-pattern index (`matcher`), the index
from terms to the rules worth evaluating (`index`), evaluation of compiled conditions
(`evaluate`), alert building (`alerts`) and running the examples written in rules
(`examples`). It may import the rule language (`watcher.rules`), the gazetteer, `watcher.text`,
`watcher.models` and `watcher.errors`; never HTTP, SMTP, a database, the clock or the disk.
"""
