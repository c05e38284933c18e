"""A TCP proxy on 127.0.0.1 that a test can tell to cut every connection through it: a network that fails."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


class CuttingProxy:
    """Forwards connections to ``target_port`` (which a test may change: new connections go there); ``cut()``
    drops the ones open now (new ones still pass)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _serve(self) -> asyncio.base_events.Server:
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}

    def cut(self) -> None:
        def close_all() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        self.loop.call_soon_threadsafe(close_all)

    async def _shutdown(self, server: asyncio.base_events.Server) -> None:
        """Stop listening, drop every connection, and let their transports close their sockets."""
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        for _ in range(3):
            await asyncio.sleep(0)  # the aborted transports' connection_lost callbacks close the sockets

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)
        try:
            yield f"http://127.0.0.1:{self.port}"
        finally:
            asyncio.run_coroutine_threadsafe(self._shutdown(server), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
