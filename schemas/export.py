"""JSON Schema export, one file per event type, for subscribers in other languages."""
from __future__ import annotations

import json
from pathlib import Path

from .topics import CATALOG


def export_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in CATALOG:
        model = spec.value
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:intake:event:{model.EVENT_TYPE}"
        path = directory / f"{model.EVENT_TYPE}.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written
