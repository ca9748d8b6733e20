"""The demo app: edit MESSAGE in greeting.py, save, and reload the page."""

import greeting


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [greeting.MESSAGE.encode() + b"\n"]
