"""A TCP proxy between the gateway and the broker, for fault injection (tests, bench/outage.py).

Tansu keeps records in memory, so stopping it loses what it had acknowledged. To take Kafka away
from the gateway without losing what it already holds, the broker advertises this proxy's port and
the test cuts the proxy instead:
- `down()`: every connection is closed and new ones are refused (the broker is "stopped");
- `stall()`: connections are accepted and bytes are read but never forwarded (a hung broker);
- `up()`: forwarding resumes on the same port.
"""

from __future__ import annotations

import asyncio
import threading

from gateway.dev.broker import free_port


class Proxy:
    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.mode = "forward"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    def up(self) -> None:
        self.mode = "forward"
        self._call(self._listen())

    def stall(self) -> None:
        """Keep accepting, never forward: existing connections stop passing bytes too."""
        self.mode = "stall"
        if self._server is None:
            self._call(self._listen())

    def down(self) -> None:
        self.mode = "down"
        self._call(self._close_all())

    def close(self) -> None:
        self.down()
        self._call(self._cancel_tasks())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port,
                                                      reuse_address=True)

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                                 return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass  # refused upstream, or close(): finish quietly (a cancelled handler is logged)
        finally:
            # Every path closes both ends, or a transport is left to the garbage collector (a
            # ResourceWarning in whatever runs next).
            for w in (writer, up_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            while self.mode == "stall":  # hold the bytes: the peer sees a silent, open connection
                await asyncio.sleep(0.05)
            if self.mode == "down":
                return
            writer.write(data)
            await writer.drain()
