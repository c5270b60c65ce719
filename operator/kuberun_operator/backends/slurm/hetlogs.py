"""A het job's logs as one stream: every component's lines, each labelled with its component.

Why labelled lines rather than one file after another: a followed het job writes to several logs at
once (``het-<i>/output.log``), and the reader must tell whose line it sees, in a terminal as in the
copy archived when the attempt ends. So each line gets its component's label
(``kuberun.resource.slurmhet.component_label``). An ended job's components come one after another
(blocks, in component order); a followed one's are interleaved line by line as they arrive, each
component read by its own command over the one SSH connection. The archived copy is that combined
stream, so ``archived_view`` finds one component in it again by the labels (every line has one),
and the last N lines of each.
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


async def archived_view(chunks: AsyncIterator[bytes], index: int | None, tail: int | None) -> AsyncIterator[bytes]:
    """A combined log as read back from the archive: component ``index``'s lines without their labels, or
    with ``index`` None every line; ``tail``: only the last N lines *of each component*, as live."""
    mine = component_label(index).encode() if index is not None else None
    kept: dict[bytes, collections.deque[bytes]] = {}  # by label, in the order first seen: the blocks' order
    pending = b""
    try:
        async for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE + 16:
                pending = b""  # longer than any line ``labelled`` writes: not a component's line
            out = _sorted(complete, mine, kept, tail)
            if out:
                yield out
        out = _sorted([pending] if pending else [], mine, kept, tail)
        if out or kept:
            yield out + b"".join(b"".join(lines) for lines in kept.values())
    finally:
        await _close(chunks)


def _sorted(lines: list[bytes], mine: bytes | None, kept: dict[bytes, collections.deque[bytes]],
            tail: int | None) -> bytes:
    """Lines to pass on now (``tail`` None), else kept in ``kept`` for the end; ``mine``: only that label's."""
    out = []
    for line in lines:
        label = line[:line.find(b"] ") + 2] if line.startswith(b"[") and b"] " in line[:16] else b""
        if mine is not None:
            if label != mine:
                continue
            line = line[len(mine):]
        if tail is None:
            out.append(line + b"\n")
        else:
            kept.setdefault(label, collections.deque(maxlen=tail)).append(line + b"\n")
    return b"".join(out)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
