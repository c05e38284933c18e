"""The documentation pages' assets shipped in the package are exactly what scripts/vendor-docs-assets fetched."""

from __future__ import annotations

import hashlib
import json

from linestream.openapi._docs import ASSETS


def test_every_shipped_asset_matches_its_manifest() -> None:
    manifest = json.loads((ASSETS / "ASSETS.json").read_text())
    assert set(manifest) == {"swagger-ui", "redoc"}
    for name, entry in manifest.items():
        folder = ASSETS / name
        assert {path.name for path in folder.iterdir()} == set(entry["files"]), name
        for file, digest in entry["files"].items():
            assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest, f"{name}/{file} was edited"
        assert entry["integrity"].startswith("sha512-")
