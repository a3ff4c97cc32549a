"""The ASGI entry point for uvicorn: ``cxloop.asgi:app`` (runs jobs and the bus in-process, and
keeps the collector's pauses short: see ``core.heap``)."""

from cxloop.app import create_app

app = create_app(background=True, settle_heap=True)
