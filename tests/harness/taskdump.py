"""When a test is about to hit its pytest-timeout, print every asyncio task's stack first.

Why: pytest-timeout dumps the *threads*, and a hung async test shows only its event loop idling in
``select()``; which coroutine waits for what is in the tasks' stacks. A watcher thread, started per
test, asks each running loop (from its own thread: ``call_soon_threadsafe``) to print them a few
seconds before the timeout fires. Costs nothing when tests finish in time.
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
import threading
from collections.abc import Iterator

import pytest

LEAD_SECONDS = 5.0  # how long before the timeout the tasks are dumped


def _timeout_of(item: pytest.Item) -> float | None:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    value = item.config.getoption("timeout", None) if item.config.pluginmanager.hasplugin("timeout") else None
    return float(value) if value else None


def _dump(loop: asyncio.AbstractEventLoop) -> None:
    out = io.StringIO()
    out.write(f"\n+++ asyncio tasks of {loop!r} before the timeout +++\n")
    for task in asyncio.all_tasks(loop):
        out.write(f"--- {task!r}\n")
        task.print_stack(file=out)
    sys.__stderr__.write(out.getvalue())
    sys.__stderr__.flush()


def _watch(done: threading.Event, after: float) -> None:
    if done.wait(after):
        return
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop) and obj.is_running():
            obj.call_soon_threadsafe(_dump, obj)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    timeout = _timeout_of(item)
    done = threading.Event()
    if timeout and timeout > 2 * LEAD_SECONDS:
        threading.Thread(target=_watch, args=(done, timeout - LEAD_SECONDS), name="taskdump", daemon=True).start()
    try:
        yield
    finally:
        done.set()
