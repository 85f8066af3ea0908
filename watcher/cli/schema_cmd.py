"""`watcher schema rules|config|alert`: print a JSON Schema, for editors and other tools."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from watcher.cli.common import EXIT_OK
from watcher.config.settings import Config
from watcher.models import Alert
from watcher.rules.load import RuleFile


def register(sub: Any) -> None:
    schema = sub.add_parser("schema", help="print a JSON Schema",
                            description="Print the JSON Schema of rules, config or alert.")
    schema.add_argument("document", choices=["rules", "config", "alert"])
    schema.set_defaults(handler=cmd_schema)


def json_schema(document: str) -> dict[str, Any]:
    if document == "rules":
        return RuleFile.model_json_schema()
    if document == "config":
        schema = Config.model_json_schema(by_alias=True)
        schema.get("properties", {}).pop("base_dir", None)
        return schema
    # What is sent, not what is accepted: every field an alert always carries is required.
    return Alert.model_json_schema(by_alias=True, mode="serialization")


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(json_schema(args.document), indent=2, ensure_ascii=False)
                     + "\n")
    return EXIT_OK
