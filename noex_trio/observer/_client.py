"""A small HTTP client for the observer's web endpoint: ``/snapshot.json`` and ``/events``.

``python -m noex_trio.observer top URL`` follows the event stream (lifecycle events, and a
snapshot every interval) and fetches a snapshot when the stream has none for it. It uses the
standard library's `urllib` in a worker thread rather than an HTTP library: a small GET now
and then and one long response need no connection pool, and the dashboards stay free of a
run-time dependency beyond rich (``httpx`` would be a new one; writing HTTP/1.1 by hand on
``h11`` would mean redirects, chunked bodies and TLS of our own). The Trio side never waits
on a thread it cannot leave: a cancelled request abandons its thread, which ends at its
socket timeout at the latest.

Proxies from the environment (``http_proxy``...) are not used: the endpoint listens on
loopback by default, where a proxy would only be in the way.
"""

from __future__ import annotations

import http
import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, Final

from .. import _checks as checks

#: Seconds a request may stay silent (connect, or between bytes) before it fails.
TIMEOUT: Final = 10.0
#: The largest snapshot accepted, in bytes (a 10 000-process runtime is a few MB).
MAX_SNAPSHOT: Final = 256 * 1024 * 1024
#: What a failed request raises: no route, refused, reset, timed out, HTTP errors (OSError,
#: from urllib), a broken HTTP exchange, a body that is not JSON (ValueError).
FETCH_ERRORS: Final = (OSError, http.client.HTTPException, ValueError)

_OPENER: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def endpoint(url: object) -> str:
    """The base URL of an endpoint, without a trailing slash or ``/snapshot.json``.

    Raises:
        TypeError: `url` is not a str.
        ValueError: not an http(s) URL with a host.
    """
    text = checks.name(url, "url")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise checks.value_error("url", "an http:// or https:// URL", url)
    return text.removesuffix("/snapshot.json").rstrip("/")


def fetch_json(url: str, timeout: float = TIMEOUT) -> Any:
    """GET `url` and decode its JSON body (blocking: run it in a thread).

    Raises:
        OSError, http.client.HTTPException, ValueError: see `FETCH_ERRORS`.
    """
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with _open(request, timeout) as response:
        body = response.read(MAX_SNAPSHOT + 1)
    if len(body) > MAX_SNAPSHOT:
        raise ValueError(f"the snapshot at {url} is larger than {MAX_SNAPSHOT} bytes")
    return json.loads(body)


def follow_events(
    url: str,
    deliver: Callable[[str, dict[str, Any]], object],
    stop: threading.Event,
    timeout: float = TIMEOUT,
) -> bool:
    """Read the server-sent events at `url`, handing each to ``deliver(name, data)``, until
    the stream ends or `stop` is set (blocking: run it in a thread).

    `name` is the event's ``event:`` field (``"message"`` without one); its ``data:`` lines
    are joined and decoded as JSON, and events whose data is not a JSON object are skipped.
    `stop` is seen when the next line arrives, or at the socket timeout.

    Returns:
        False if the server answered 204 No Content: it has no stream for us, do not come
        back (as a browser's ``EventSource`` does); True otherwise.

    Raises:
        OSError, http.client.HTTPException: the request failed (urllib's ``HTTPError`` for a
            status >= 400).
    """
    request = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
    with _open(request, timeout) as response:
        if response.status == http.HTTPStatus.NO_CONTENT:
            return False
        name, data = "message", []
        for raw in response:
            if stop.is_set():
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif not line:
                if data:
                    _dispatch(name, "\n".join(data), deliver)
                name, data = "message", []
    return True


def _open(request: urllib.request.Request, timeout: float) -> Any:
    """Send `request`; an HTTP error status raises urllib's ``HTTPError``, closed.

    (An ``HTTPError`` is also the response: left open, its socket lingers until garbage
    collection, and the error is kept as the cause of what the dashboard shows.)
    """
    try:
        return _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise


def _dispatch(name: str, data: str, deliver: Callable[[str, dict[str, Any]], object]) -> None:
    try:
        event = json.loads(data)
    except ValueError:
        return
    if isinstance(event, dict):
        deliver(name, event)
