"""Write the service's OpenAPI document to clients/openapi.json.

Run from anywhere with the project's Python (`make client` does):
    .venv/bin/python clients/scripts/dump_openapi.py [output path]

The document is built in-process from the app factory: no server, no database
and no secret file are needed (throwaway settings are used when none are set).
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "clients" / "openapi.json"


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    # Building the app must not create ./app.db or a development key file.
    os.environ.setdefault("DATABASE_URL", "sqlite://")
    os.environ.setdefault("JWT_SECRET_KEY", "openapi-dump-" + "x" * 40)
    sys.path.insert(0, str(ROOT))
    from app.main import create_app

    document = create_app().openapi()
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output} ({len(document['paths'])} paths)")


if __name__ == "__main__":
    main()
