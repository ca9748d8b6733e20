# Edit this line and reload the page: uwsgi_reload restarts the workers.
TEXT = "Hello from plain WSGI"
