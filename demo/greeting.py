MESSAGE = "Hello from uwsgi_reload. Edit demo/greeting.py, save, and reload this page."
