"""A Flask app with one Jinja template, templates/index.html."""

from flask import Flask, render_template

app = Flask(__name__)


@app.route("/")
def index():
    return render_template("index.html", framework="Flask")
