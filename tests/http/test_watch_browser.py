"""A watch seen by a real browser: ``EventSource`` in headless Chromium, across origins.

The page is served from another origin (a second server on another port) and watches
``/tasks`` of an endpoint whose ``cors_origins`` names it. Once its ``EventSource`` is open, the
page itself writes 20 records in one batch; the store's watcher buffer holds 3, so the server
drops the connection (the watcher lags), and the browser reconnects on its own with
``Last-Event-ID``. The page writes what it received into the DOM, which the test reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.http.browser import rendered_dom
from tests.http.support import Serve

pytestmark = pytest.mark.anyio

PAGE = """<!doctype html>
<html><body><pre id="out">waiting</pre><script>
const api = "API";
const ids = [];
let opens = 0;
const source = new EventSource(api + "/tasks?watch=true&since=0");
source.onopen = () => {
  opens += 1;
  if (opens === 1) {
    const operations = [];
    for (let n = 0; n < 20; n++) operations.push({action: "create", data: {n}});
    fetch(api + "/actions/input", {method: "POST", headers: {"content-type": "application/json"},
                                   body: JSON.stringify({action: "batch", operations})});
  }
};
source.addEventListener("change", (message) => {
  const change = JSON.parse(message.data);
  if (String(change.seq) !== message.lastEventId) throw new Error("id is not the seq");
  ids.push(change.seq);
  if (ids.length === 20) {
    source.close();
    document.getElementById("out").textContent = "opens=" + opens + " seqs=" + ids.join(",");
  }
});
</script></body></html>
"""


@contextmanager
def page_server(directory: Path) -> Iterator[str]:
    """A plain HTTP server of ``directory`` on a free port (another origin than the API)."""

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_an_event_source_gets_every_change_and_resumes_after_a_drop(
    serve: Serve, tmp_path: Path
) -> None:
    with page_server(tmp_path) as origin:
        blueprint = f"""
system:
  name: watch_browser_test
  components:
    - name: api
      type: FastAPIEndpoint
      config: {{port: 0, cors_origins: ['{origin}']}}
    - name: store
      type: Store
      config: {{storage_type: memory}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""
        async with serve(blueprint) as r:
            r.component("store").feeds.buffer = 3
            (tmp_path / "watch.html").write_text(PAGE.replace("API", r.url_of("api")))
            dom = await rendered_dom(f"{origin}/watch.html", budget_ms=10_000)
    expected = ",".join(str(n) for n in range(1, 21))
    assert f"opens=2 seqs={expected}" in dom, dom[-1500:]
