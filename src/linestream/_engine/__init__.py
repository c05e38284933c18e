"""Stage 5, running a stream: its state machine, its item sources (``async def`` and ``def`` generators), the
outbox and its writer, the receive watcher, stream slots, expiry and shutdown. Knows no routing and no app."""
