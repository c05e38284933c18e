"""The demo app served by scripts/demo: the tutorial's JSON Lines streams, raw data streams and live orders."""

from examples import items, orders, stream_data
from linestream import LineStream

app = LineStream(
    title="linestream demo",
    description="The Stream JSON Lines tutorial app, plus raw text and binary streams, and a live orders topic.",
    topic_backend=orders.backend,
)
app.include_router(items.app.router)
app.include_router(stream_data.router)
app.include_router(orders.router)
