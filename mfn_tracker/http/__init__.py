"""The HTTP side: a pure ASGI ``EventLoggingMiddleware`` (stdlib only) and the optional API app.

``middleware`` and ``background`` import only the standard library; ``app`` needs the ``api`` extra
(FastAPI + uvicorn), so nothing here imports it eagerly.
"""
