"""A paginated HTTP API as a generic (three-method) source.

The API it reads (``serve()`` below runs one for the demo and the tests)::

    GET {endpoint}?page=N&page_size=K   ->   {"items": [...], "page": N, "pages": P, "total": T}

Each item is ``{"id": int, "name": str, "amount": float, "created_at": "2024-01-01T00:00:00Z"}``.

Options (strings, as Spark passes them):

endpoint
    the API's URL (required)
page_size
    items per page (default 100)
pages_per_partition
    pages one partition reads (default 1): the partitions are read in parallel
api_key
    sent as ``Authorization: Bearer ...``; never shown in errors (its name contains "key")
timeout
    seconds per request (default 10)

Run it::

    import headwater
    df = headwater.read_python("http_api_source:HttpApiSource", endpoint="http://127.0.0.1:8000/orders")

or on Spark 4, unchanged, with ``headwater.spark.register(spark)`` and ``format("python")``.
Only the standard library and pyarrow: no ``requests``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("amount", pa.float64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _get(options: Dict[str, str], page: int) -> Dict[str, Any]:
    endpoint = options["endpoint"]
    query = urllib.parse.urlencode({"page": page, "page_size": int(options.get("page_size", 100))})
    sep = "&" if urllib.parse.urlparse(endpoint).query else "?"
    request = urllib.request.Request(f"{endpoint}{sep}{query}", headers={"Accept": "application/json"})
    if options.get("api_key"):
        request.add_header("Authorization", f"Bearer {options['api_key']}")
    with urllib.request.urlopen(request, timeout=float(options.get("timeout", 10))) as response:
        return json.load(response)


class HttpApiSource:
    """Reads every page of the API; ``pages_per_partition`` pages per partition."""

    def infer_schema(self, options: Dict[str, str]) -> pa.Schema:
        # The API's items have a fixed shape; a source could also read it from page 0.
        return SCHEMA

    def plan_partitions(self, options: Dict[str, str]) -> List[Dict[str, Any]]:
        pages = int(_get(options, 0)["pages"])  # the first page says how many there are
        per = max(1, int(options.get("pages_per_partition", 1)))
        return [{"pages": list(range(p, min(p + per, pages)))} for p in range(0, pages, per)]

    def read_partition(self, spec: Dict[str, Any], options: Dict[str, str]) -> Iterator[pa.RecordBatch]:
        for page in spec["pages"]:
            items = _get(options, page)["items"]
            if not items:
                continue
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([it["id"] for it in items], pa.int64()),
                    pa.array([it["name"] for it in items], pa.string()),
                    pa.array([it["amount"] for it in items], pa.float64()),
                    # ISO-8601 strings with a zone, parsed by Arrow's cast
                    pa.array([it["created_at"] for it in items], pa.string()).cast(SCHEMA.field("created_at").type),
                ],
                schema=SCHEMA,
            )


# ---------------------------------------------------------------------------------------------
# a small API to read from (the demo below and the tests)


def make_items(n: int) -> List[Dict[str, Any]]:
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [
        {
            "id": i,
            "name": f"order-{i:05d}",
            "amount": round(i * 1.25, 2),
            "created_at": (base + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for i in range(n)
    ]


def serve(items: List[Dict[str, Any]], api_key: Optional[str] = None,
          host: str = "127.0.0.1") -> Tuple[ThreadingHTTPServer, threading.Thread, str]:
    """Serves ``items`` in pages on ``host`` (a free port) from a thread. Returns the server, its
    thread and the endpoint; stop it with ``server.shutdown(); server.server_close()``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- http.server's name
            url = urllib.parse.urlparse(self.path)
            if url.path != "/orders":
                self.send_error(404)
                return
            if api_key is not None and self.headers.get("Authorization") != f"Bearer {api_key}":
                self.send_error(401)
                return
            q = urllib.parse.parse_qs(url.query)
            page, size = int(q.get("page", ["0"])[0]), int(q.get("page_size", ["100"])[0])
            pages = (len(items) + size - 1) // size
            body = json.dumps(
                {"items": items[page * size : (page + 1) * size], "page": page, "pages": pages, "total": len(items)}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="http-api-source", daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_address[1]}/orders"


if __name__ == "__main__":
    import headwater

    server, thread, endpoint = serve(make_items(1000))
    try:
        df = headwater.read_python("http_api_source:HttpApiSource", endpoint=endpoint, page_size=100)
        df.show(5)
        print(df.count(), "rows from", endpoint)
    finally:
        server.shutdown()
        server.server_close()
