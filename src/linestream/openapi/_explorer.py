"""The ``/explorer`` page: watch an app's streams live. Its assets ship in this package (no CDN, works offline)."""

from __future__ import annotations

import html
from pathlib import Path

__all__ = ["explorer_html", "explorer_static_path"]


def explorer_static_path() -> Path:
    """The folder of the explorer's JavaScript and CSS."""
    return Path(__file__).parent / "explorer"


def explorer_html(title: str, openapi_url: str, static_url: str, root_path: str) -> str:
    """The page; its script reads the app's OpenAPI document from ``openapi_url``."""
    static = html.escape(static_url, quote=True)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - stream explorer</title>
<link rel="stylesheet" href="{static}/explorer.css">
<link rel="icon" href="data:,">
</head>
<body>
<a class="skip" href="#main">Skip to the stream</a>
<header class="top"><h1>Stream explorer</h1><span class="api" id="api-title"></span></header>
<div id="explorer" data-openapi="{html.escape(openapi_url, quote=True)}"
  data-root="{html.escape(root_path, quote=True)}">
<nav id="routes" aria-label="Streaming routes"><p>Loading the OpenAPI document…</p></nav>
<main id="main">
<details id="authorize" hidden><summary>Authorize</summary>
<p class="hint">Credentials stay in this page's memory: they are sent with each stream's request, never stored.</p>
<div id="credentials"></div></details>
<p class="hint" id="pick">Pick a streaming route to watch it live.</p>
<section id="route" hidden aria-labelledby="route-title">
<h2 id="route-title"></h2>
<p id="route-description"></p>
<details class="schema"><summary>Item schema</summary><pre id="item-schema"></pre></details>
<form id="controls" novalidate>
<fieldset id="parameters-set"><legend class="hint">Parameters</legend>
<div id="parameters"></div></fieldset>
<div class="buttons">
<div class="field"><label for="format">Format</label><select id="format" name="format"></select></div>
<button type="submit" id="start">Start</button>
<button type="button" id="pause" aria-pressed="false">Pause</button>
<button type="button" id="stop">Stop</button>
<span id="state" role="status" aria-live="polite"></span>
</div>
</form>
<div class="stats">
<dl>
<div><dt>items</dt><dd id="stat-count">0</dd></div>
<div><dt>items/s</dt><dd id="stat-rate">0</dd></div>
<div><dt>bytes</dt><dd id="stat-bytes">0 B</dd></div>
<div><dt>elapsed</dt><dd id="stat-elapsed">0.0 s</dd></div>
</dl>
<canvas id="chart" width="240" height="48" role="img" aria-label="items per second"></canvas>
</div>
<div id="banner" aria-live="assertive"></div>
<ol id="log" aria-label="Connection events"></ol>
<div class="view-tools">
<label for="filter">Filter</label><input id="filter" type="search" placeholder="text in the item's JSON">
<span id="event-filter-field" hidden><label for="event-filter">Kind</label>
<select id="event-filter"><option value="">all kinds</option></select></span>
<span id="filter-count" aria-live="polite"></span>
<label><input type="checkbox" id="raw"> Raw JSON</label>
<span id="dropped" aria-live="polite"></span>
</div>
<div id="table-wrap" tabindex="0" aria-label="Items received">
<table id="table"><thead id="head"></thead><tbody id="rows"></tbody></table>
</div>
</section>
</main>
</div>
<script type="module" src="{static}/decoders-global.js"></script>
<script defer src="{static}/explorer.js"></script>
</body>
</html>
"""
