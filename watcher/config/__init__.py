"""Configuration: every setting declared once, with its default and help text.

Owns the config file's models (`settings`), `WATCHER_…` environment overrides and `…_FILE`
secrets (`environment`), the masked view that ops may see (`masked`) and the README's generated
reference (`reference`). It may import `watcher.yamlfile`, `watcher.models` and
`watcher.errors`; every other part of watcher may import it.
"""
