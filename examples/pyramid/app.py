"""A Pyramid app with one view."""

from pyramid.config import Configurator
from pyramid.response import Response


def home(request):
    return Response("Hello from Pyramid", content_type="text/plain")


with Configurator() as config:
    config.add_route("home", "/")
    config.add_view(home, route_name="home")
app = config.make_wsgi_app()
