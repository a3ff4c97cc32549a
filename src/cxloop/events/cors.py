"""CORS on the ingestion calls only, so analytics.js in a browser on any site can send to them.

Write keys are public by design (they sit in every page that loads analytics.js) and the calls
take no cookie, so any origin may post, without credentials, as Segment's own API allows. Every
other path, the session-authenticated UI and the REST API above all, passes untouched.
"""

from __future__ import annotations

import re

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# The calls and their one-letter paths (analytics.js posts to /v1/t, /v1/i, /v1/p, ...).
INGESTION_PATH = re.compile(
    r"/v1/(identify|track|page|screen|group|alias|batch|[itpsgab])/?", re.ASCII
)


class IngestionCors:
    """Answer CORS preflights and add the CORS headers to every answer of an ingestion call,
    refusals included (a 401, a 413 before the body is read), so the browser's SDK sees them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["POST"],
            # analytics.js sends Authorization and X-Retry-Count; a site may add its own.
            allow_headers=["*"],
            allow_credentials=False,
            # Retry-After of a 429 or a 503 tells the SDK when to try again; analytics.js
            # reads a 429's X-RateLimit-Reset for it.
            expose_headers=["Retry-After", "X-RateLimit-Reset"],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and INGESTION_PATH.fullmatch(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
