"""Cancel, suspend, resume and reproduce, each behind a confirmation page and a checked POST.

The confirmation is a page of its own (works without JavaScript, and keyboard-first: the safe
choice, "Back", comes after the button that acts, both reachable by Tab). The POST needs the
CSRF token and this origin (see ``security``); the change itself is the SDK's, made with the
user's credentials, so the API server's RBAC decides, and a refusal is shown as the message the
SDK builds from the 403 (which verb on which resource to ask for).
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from aiohttp import web

from kuberun.ui import render, security

DESCRIPTIONS = {
    "cancel": "Terminate its running tasks and start nothing new (spec.shutdown: Terminate). This cannot be undone.",
    "cancel-task": ("Cancel this one task (spec.cancelTasks): its running attempt is cancelled, its dependents "
                    "are skipped, the other tasks go on. This cannot be undone."),
    "stop": "Start nothing new and let running tasks finish (spec.shutdown: Stop).",
    "suspend": "Suspend its running Jobs and start nothing new until resumed (spec.suspend: true).",
    "resume": "Resume it (clears spec.suspend).",
    "reproduce": "Create a new experiment from this one's recorded spec, with the overrides below, linked to this one.",
}


def _target(request: web.Request) -> tuple[str, str, str]:
    action = request.match_info["action"]
    if action not in DESCRIPTIONS:
        raise ValueError(f"unknown action {action!r}: use one of {', '.join(DESCRIPTIONS)}")
    return request.match_info["namespace"], request.match_info["name"], action


def _task(action: str, given: object) -> str:
    """The task a per-task action names (``?task=`` on the confirmation, a form field on the POST)."""
    if action != "cancel-task":
        return ""
    if not isinstance(given, str) or not given:
        raise ValueError("cancel-task needs the task to cancel (task=NAME)")
    return given


async def confirm(request: web.Request) -> web.Response:
    namespace, name, action = _target(request)
    task = _task(action, request.query.get("task"))
    obj = await asyncio.to_thread(render.record(request).get, namespace, name)
    return render.html(request, "confirm.html", obj=obj, ns=namespace, name=name, action=action, task=task,
                       description=DESCRIPTIONS[action], overrides="")


async def perform(request: web.Request) -> web.Response:
    namespace, name, action = _target(request)
    form = await request.post()
    token = form.get("csrf")
    if not security.check_csrf(request, token if isinstance(token, str) else None, render.csrf(request)):
        return render.error(request, 403, "Refused: the form's token is missing or stale; reload the page and try again.")
    task = _task(action, form.get("task"))
    overrides = form.get("overrides", "")
    record = render.record(request)
    shown = await asyncio.to_thread(record.act, namespace, name, action, overrides if isinstance(overrides, str) else "",
                                    task=task)
    where = f"&task={quote(task, safe='')}#task-{quote(task, safe='')}" if task else ""
    raise web.HTTPSeeOther(f"/exp/{quote(namespace, safe='')}/{quote(shown, safe='')}?done={action}{where}")
