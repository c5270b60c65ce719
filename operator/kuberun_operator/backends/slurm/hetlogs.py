"""A het job's logs as one stream: every component's lines, each labelled with its component.

Why labelled lines rather than one file after another: a followed het job writes to several logs at
once (``het-<i>/output.log``), and the reader must tell whose line it sees, in a terminal as in the
copy archived when the attempt ends. So each line gets its component's label
(``kuberun.resource.slurmhet.component_label``). An ended job's components come one after another
(blocks, in component order); a followed one's are interleaved line by line as they arrive, each
component read by its own command over the one SSH connection. The archived copy is that combined
stream, so ``only_component`` finds one component in it again by the labels (every line has one).
The batch script's own output (setup lines, ``srun: error: ...``, which no component's log holds)
comes first, labelled ``[job] `` (``JOB_LABEL``).

Bounds: a line is held until its newline, at most ``MAX_LINE`` bytes (a longer one is cut into
labelled pieces); a followed job's components hand lines over through a queue of ``QUEUE`` chunks.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable

from kuberun.resource.slurmhet import JOB_LABEL, component_label

MAX_LINE = 64 * 1024
QUEUE = 64
_END = object()


async def labelled(chunks: AsyncIterator[bytes], index: int | None) -> AsyncIterator[bytes]:
    """``chunks`` as whole lines, each prefixed with component ``index``'s label (None: the job's own)."""
    label, pending = (JOB_LABEL if index is None else component_label(index)).encode(), b""
    try:
        async for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            while len(pending) > MAX_LINE:
                complete.append(pending[:MAX_LINE])
                pending = pending[MAX_LINE:]
            if complete:
                yield b"".join(label + line + b"\n" for line in complete)
        if pending:
            yield label + pending + b"\n"
    finally:
        await _close(chunks)


async def every_component(open_one: Callable[[int | None], AsyncIterator[bytes]], size: int,
                          follow: bool) -> AsyncIterator[bytes]:
    """The job's own log (``open_one(None)``) and all ``size`` components' (``open_one(i)``), labelled:
    one after another, or interleaved when ``follow``."""
    sources: list[int | None] = [None, *range(size)]
    if not follow:
        for index in sources:
            async for chunk in labelled(open_one(index), index):
                yield chunk
        return
    queue: asyncio.Queue[object] = asyncio.Queue(QUEUE)

    async def pump(index: int | None) -> None:
        try:
            async for chunk in labelled(open_one(index), index):
                await queue.put(chunk)
        except Exception as exc:  # handed over: the reader raises it, so one failing component fails the stream
            await queue.put(exc)
        finally:
            await queue.put(_END)

    pumps = [asyncio.ensure_future(pump(i)) for i in sources]
    try:
        ended = 0
        while ended < len(sources):
            item = await queue.get()
            if item is _END:
                ended += 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item  # type: ignore[misc]
    finally:
        for running in pumps:
            running.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def only_component(chunks: AsyncIterator[bytes], index: int, tail: int | None) -> AsyncIterator[bytes]:
    """Component ``index``'s lines of a combined log, without their labels; ``tail``: only its last N."""
    label = component_label(index).encode()
    kept: collections.deque[bytes] = collections.deque(maxlen=tail)  # maxlen None: unbounded, but emptied per chunk
    pending = b""
    try:
        async for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE + len(label):
                pending = b""  # longer than any line ``labelled`` writes: not a component's line
            kept.extend(line[len(label):] + b"\n" for line in complete if line.startswith(label))
            if tail is None and kept:
                yield b"".join(kept)
                kept.clear()
        if pending.startswith(label):
            kept.append(pending[len(label):] + b"\n")
        if kept:
            yield b"".join(kept)
    finally:
        await _close(chunks)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
