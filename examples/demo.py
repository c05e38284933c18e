"""The demo app served by scripts/demo: the tutorial's JSON Lines streams and the raw data streams."""

from examples import items, stream_data
from linestream import LineStream

app = LineStream(
    title="linestream demo",
    description="The Stream JSON Lines tutorial app, plus raw text and binary streams.",
)
app.include_router(items.app.router)
app.include_router(stream_data.router)
