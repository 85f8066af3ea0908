"""watcher: news feeds in, rule matches out as alerts to webhooks and email.

One sub-package per part of the flow (docs/architecture.md): `feeds` fetches and parses,
`rules` and `matching` decide what fired, `delivery` routes and sends, `store` remembers,
`service` runs it all on a schedule and `cli` is the command line. At the top stay only what
every part shares: `models` (the values passed between stages), `errors` (the one error
tree), `yamlfile`, `metrics`, and `pipeline`, the only module that knows the stages' order.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("watcher")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
