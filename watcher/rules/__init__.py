"""The rule language: what a rule file may hold, and rule files loaded into a `RuleSet`.

Owns the file schema (`schema`, also the JSON Schema of `watcher schema rules`), terms and
shared term lists (`terms`), loading and resolving files and folders with FILE:LINE:COL
problems (`load`), the resolved condition tree (`tree`) and authoring checks (`checks`). It may
import the gazetteer, `watcher.text`, `watcher.yamlfile`, `watcher.models` and `watcher.errors`;
never the matcher (which builds on it), the feeds or delivery sides, the store or the service.
"""
