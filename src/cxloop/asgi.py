"""The ASGI entry point for uvicorn: ``cxloop.asgi:app`` (runs jobs and the bus in-process)."""

from cxloop.app import create_app

app = create_app(background=True)
