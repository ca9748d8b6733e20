"""The smallest WSGI app: its answer comes from another module, greeting.py."""

import greeting


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [greeting.TEXT.encode("utf-8")]
