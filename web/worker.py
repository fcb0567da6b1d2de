"""The app as each `serve --workers N` process builds it.

uvicorn starts the workers itself, from an import string, so each one builds its own app from
the settings its parent handed down (`Settings.hand_to_workers`): it loads the model, serves the
published index version and watches for new ones, exactly as a single server does.
"""

from fastapi import FastAPI

from assistant.settings import current
from web.app import create_app


def app() -> FastAPI:
    return create_app(current())
