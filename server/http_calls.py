"""The HTTP calls made to Triton: readiness checks (launcher, the image's stub watcher) and the drain's JSON calls.

Standard library only: the server image's entry (container.py) uses it with the NGC image's python3.
Not named http.py: with server/ on sys.path, such a file would hide the standard library's http package.
"""

import json
import urllib.error
import urllib.request


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


def call_json(url: str, headers: dict[str, str], body: dict | None = None, timeout: float = 10.0) -> object:
    """GET `url` (no body) or POST `body` as JSON; the decoded answer, None when empty.

    urllib's errors go to the caller: HTTPError when the server refused, other OSErrors when none answered.
    """
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    return json.loads(text) if text else None
