"""Write the service's OpenAPI document to clients/openapi.json.

Run from anywhere with the project's Python (`make client` does):
    .venv/bin/python clients/scripts/dump_openapi.py [output path]

The document is built in-process from the app factory with the default settings
(whatever the environment or `.env` say): no server, database or key file is needed,
and the file only changes when the API does. tests/test_openapi.py fails while the
committed file and the app disagree.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "clients" / "openapi.json"


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    sys.path.insert(0, str(ROOT))
    from app.main import published_document

    document = published_document()
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output} ({len(document['paths'])} paths)")


if __name__ == "__main__":
    main()
