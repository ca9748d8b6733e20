"""The Flask 3.1 app of realapps.py: an app factory, four blueprints, Flask-SQLAlchemy.

wsgi.py calls shop.create_app(), which registers the blueprints main, catalog,
orders and accounts (each a package with its views and Jinja templates) and an
``init-db`` command that creates and seeds the sqlite tables. ``/health/``
shows a token from shop/main/views.py.
"""

import os
from typing import Dict

from _realapps_gen import AGENT_WRAPPER, BIN, App, EditTarget, compile_tree, run_in, write_files

FLASK_WSGI = '''\
import os

from shop import create_app

app = create_app()
''' + AGENT_WRAPPER + '''
    app = _with_agent(app)
'''

FLASK_FACTORY = '''\
"""The shop, built by an app factory as the Flask tutorial does it."""

import os

from flask import Flask, render_template

from .commands import init_db_command
from .extensions import db


def create_app(config_object: str = "shop.config.DevelopmentConfig") -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_object)
    app.config.from_pyfile("settings.py", silent=True)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    register_blueprints(app)
    app.cli.add_command(init_db_command)
    app.register_error_handler(404, page_not_found)
    app.add_template_filter(format_price, "price")
    return app


def register_blueprints(app: Flask) -> None:
    from .accounts import bp as accounts_bp
    from .catalog import bp as catalog_bp
    from .main import bp as main_bp
    from .orders import bp as orders_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(catalog_bp, url_prefix="/catalog")
    app.register_blueprint(orders_bp, url_prefix="/orders")
    app.register_blueprint(accounts_bp, url_prefix="/accounts")


def page_not_found(error):
    return render_template("404.html"), 404


def format_price(value) -> str:
    return f"{value:,.2f} EUR"
'''

FLASK_CONFIG = '''\
class Config:
    SECRET_KEY = "dev-only-not-a-secret"
    # Relative to the instance folder (Flask-SQLAlchemy 3).
    SQLALCHEMY_DATABASE_URI = "sqlite:///shop.sqlite3"
    ITEMS_PER_PAGE = 20


class DevelopmentConfig(Config):
    SQLALCHEMY_ECHO = False


class TestingConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = "sqlite://"
'''

FLASK_EXTENSIONS = '''\
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
'''

FLASK_MODELS = '''\
"""The shop's tables."""

import enum
from datetime import datetime, timezone
from decimal import Decimal
from typing import Optional

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Category(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    products: Mapped[list["Product"]] = relationship(back_populates="category")


class Product(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2, asdecimal=True))
    stock: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    category: Mapped[Category] = relationship(back_populates="products")

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "sku": self.sku, "category": self.category.slug,
                "price": str(self.price), "stock": self.stock}


class Customer(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    addresses: Mapped[list["Address"]] = relationship(back_populates="customer", cascade="all, delete-orphan")
    orders: Mapped[list["Order"]] = relationship(back_populates="customer")


class Address(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    city: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    customer: Mapped[Customer] = relationship(back_populates="addresses")


class OrderStatus(enum.Enum):
    CART = "cart"
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class Order(db.Model):
    __tablename__ = "orders"  # ORDER is an SQL keyword
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    status: Mapped[OrderStatus] = mapped_column(default=OrderStatus.CART)
    placed_at: Mapped[Optional[datetime]]
    customer: Mapped[Customer] = relationship(back_populates="orders")
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", cascade="all, delete-orphan")

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal("0.00"))

    def to_dict(self) -> dict:
        return {"id": self.id, "customer": self.customer.email, "status": self.status.value,
                "total": str(self.total), "lines": [line.to_dict() for line in self.lines]}


class OrderLine(db.Model):
    __table_args__ = (UniqueConstraint("order_id", "product_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2, asdecimal=True))
    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()

    @property
    def subtotal(self) -> Decimal:
        return self.quantity * self.unit_price

    def to_dict(self) -> dict:
        return {"product": self.product_id, "quantity": self.quantity, "unit_price": str(self.unit_price)}
'''

FLASK_COMMANDS = '''\
"""flask init-db: create the tables and a few rows to look at."""

import random
from decimal import Decimal

import click
from flask.cli import with_appcontext

from .extensions import db
from .models import Address, Category, Customer, Order, OrderLine, OrderStatus, Product

CITIES = ["Lyon", "Berlin", "Turin", "Leeds"]


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    db.drop_all()
    db.create_all()
    seed(random.Random(1))
    db.session.commit()
    click.echo("Initialized the database.")


def seed(rng: random.Random) -> None:
    categories = [Category(name=name, slug=name.lower()) for name in ("Books", "Games", "Garden", "Kitchen")]
    products = [
        Product(category=rng.choice(categories), name=f"Product {n}", sku=f"SKU-{n:04d}",
                price=Decimal(rng.randint(200, 9000)) / 100, stock=rng.randint(0, 40))
        for n in range(1, 61)
    ]
    db.session.add_all(categories + products)
    for n in range(1, 21):
        customer = Customer(email=f"customer{n}@example.com", name=f"Customer {n}")
        customer.addresses.append(
            Address(city=rng.choice(CITIES), postcode=str(rng.randint(10000, 99999)), country="FR")
        )
        order = Order(customer=customer, status=rng.choice(list(OrderStatus)))
        for product in rng.sample(products, 3):
            order.lines.append(OrderLine(product=product, quantity=rng.randint(1, 4), unit_price=product.price))
        db.session.add(customer)
'''

BLUEPRINT_INIT = '''\
from flask import Blueprint

bp = Blueprint("{name}", __name__)

from . import views  # noqa: E402,F401  (registers the routes on bp)
'''

FLASK_MAIN_VIEWS = '''\
"""The home page, the health check and a few numbers."""

from flask import render_template
from sqlalchemy import func, select

from ..extensions import db
from ..models import Category, Order, Product
from . import bp

# Shown by /health/: the benchmark rewrites it to edit a view module.
HEALTH_TEXT = "$token"


@bp.route("/")
def index():
    featured = db.session.scalars(
        select(Product).where(Product.is_active).order_by(Product.stock.desc()).limit(8)
    ).all()
    categories = db.session.execute(
        select(Category, func.count(Product.id))
        .join(Product, isouter=True)
        .group_by(Category.id)
        .order_by(Category.name)
    ).all()
    return render_template("main/index.html", featured=featured, categories=categories)


@bp.route("/health/")
def health():
    return f"ok {HEALTH_TEXT}", 200, {"Content-Type": "text/plain"}


@bp.route("/stats.json")
def stats():
    return {
        "products": db.session.scalar(select(func.count(Product.id))),
        "orders": db.session.scalar(select(func.count(Order.id))),
    }
'''

FLASK_CATALOG_VIEWS = '''\
"""Product pages and the product API."""

from decimal import Decimal, InvalidOperation
from typing import Optional

from flask import abort, current_app, jsonify, render_template, request
from sqlalchemy import Select, select

from ..extensions import db
from ..models import Category, Product
from . import bp


def price_arg(name: str) -> Optional[Decimal]:
    if name not in request.args:
        return None
    try:
        return Decimal(request.args[name])
    except InvalidOperation:
        abort(400, f"{name} must be a number")


def filtered_products() -> Select:
    """Active products, filtered by ?category=books&min_price=5&max_price=20."""
    query = select(Product).join(Product.category).where(Product.is_active).order_by(Product.name)
    if category := request.args.get("category"):
        query = query.where(Category.slug == category)
    if (low := price_arg("min_price")) is not None:
        query = query.where(Product.price >= low)
    if (high := price_arg("max_price")) is not None:
        query = query.where(Product.price <= high)
    return query


@bp.route("/")
def product_list():
    page = db.paginate(filtered_products(), per_page=current_app.config["ITEMS_PER_PAGE"])
    categories = db.session.scalars(select(Category).order_by(Category.name)).all()
    return render_template("catalog/product_list.html", page=page, categories=categories)


@bp.route("/<int:product_id>/")
def product_detail(product_id: int):
    product = db.get_or_404(Product, product_id)
    return render_template("catalog/product_detail.html", product=product)


@bp.route("/api/products")
def api_products():
    page = db.paginate(filtered_products(), per_page=current_app.config["ITEMS_PER_PAGE"])
    return jsonify(count=page.total, page=page.page, results=[product.to_dict() for product in page.items])
'''

FLASK_ORDERS_VIEWS = '''\
"""Order pages and the order API."""

from datetime import datetime, timezone

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db
from ..models import Order, OrderLine, OrderStatus
from . import bp


def filtered_orders() -> Select:
    query = (
        select(Order)
        .options(joinedload(Order.customer), selectinload(Order.lines).joinedload(OrderLine.product))
        .order_by(Order.id.desc())
    )
    if status := request.args.get("status"):
        try:
            query = query.where(Order.status == OrderStatus(status))
        except ValueError:
            abort(400, f"unknown status {status!r}")
    return query


@bp.route("/")
def order_list():
    page = db.paginate(filtered_orders(), per_page=current_app.config["ITEMS_PER_PAGE"])
    return render_template("orders/order_list.html", page=page, statuses=list(OrderStatus))


@bp.route("/api/orders")
def api_orders():
    page = db.paginate(filtered_orders(), per_page=current_app.config["ITEMS_PER_PAGE"])
    return jsonify(count=page.total, results=[order.to_dict() for order in page.items])


@bp.post("/<int:order_id>/place")
def place(order_id: int):
    order = db.get_or_404(Order, order_id)
    if order.status is not OrderStatus.CART:
        abort(409, "only a cart can be placed")
    order.status = OrderStatus.PLACED
    order.placed_at = datetime.now(timezone.utc)
    db.session.commit()
    return redirect(url_for(".order_list"))
'''

FLASK_ACCOUNTS_VIEWS = '''\
"""Customer pages and the customer API."""

from flask import current_app, jsonify, render_template, request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Address, Customer, Order
from . import bp


def filtered_customers() -> Select:
    """Customers by name, filtered by ?city=Lyon."""
    query = select(Customer).options(selectinload(Customer.addresses)).order_by(Customer.name)
    if city := request.args.get("city"):
        query = query.where(Customer.addresses.any(Address.city == city))
    return query


@bp.route("/")
def customer_list():
    page = db.paginate(filtered_customers(), per_page=current_app.config["ITEMS_PER_PAGE"])
    counts = dict(db.session.execute(select(Order.customer_id, func.count(Order.id)).group_by(Order.customer_id)).all())
    return render_template("accounts/customer_list.html", page=page, order_counts=counts)


@bp.route("/<int:customer_id>/")
def customer_detail(customer_id: int):
    customer = db.get_or_404(Customer, customer_id)
    return render_template("accounts/customer_detail.html", customer=customer)


@bp.route("/api/customers")
def api_customers():
    page = db.paginate(filtered_customers(), per_page=current_app.config["ITEMS_PER_PAGE"])
    results = [
        {"id": customer.id, "email": customer.email, "name": customer.name,
         "cities": [address.city for address in customer.addresses]}
        for customer in page.items
    ]
    return jsonify(count=page.total, results=results)
'''

FLASK_BASE_HTML = '''\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}Shop{% endblock %}</title>
</head>
<body>
  <nav>
    <a href="{{ url_for('main.index') }}">Home</a>
    <a href="{{ url_for('catalog.product_list') }}">Catalog</a>
    <a href="{{ url_for('orders.order_list') }}">Orders</a>
    <a href="{{ url_for('accounts.customer_list') }}">Customers</a>
  </nav>
  <main>{% block content %}{% endblock %}</main>
</body>
</html>
'''

FLASK_404_HTML = '''\
{% extends "base.html" %}
{% block title %}Not found{% endblock %}
{% block content %}<h1>Not found</h1><p>No such page.</p>{% endblock %}
'''

FLASK_INDEX_HTML = '''\
{% extends "base.html" %}
{% block content %}
<h1>Welcome</h1>
<ul>
  {% for category, count in categories %}
  <li><a href="{{ url_for('catalog.product_list', category=category.slug) }}">{{ category.name }}</a> ({{ count }})</li>
  {% endfor %}
</ul>
<h2>Featured</h2>
{% for product in featured %}
<p><a href="{{ url_for('catalog.product_detail', product_id=product.id) }}">{{ product.name }}</a> {{ product.price|price }}</p>
{% endfor %}
{% endblock %}
'''

FLASK_PRODUCT_LIST_HTML = '''\
{% extends "base.html" %}
{% block title %}Catalog{% endblock %}
{% block content %}
<h1>Products</h1>
<p>{% for category in categories %}<a href="?category={{ category.slug }}">{{ category.name }}</a> {% endfor %}</p>
<table>
  <tr><th>Product</th><th>Category</th><th>Price</th><th>Stock</th></tr>
  {% for product in page.items %}
  <tr>
    <td><a href="{{ url_for('catalog.product_detail', product_id=product.id) }}">{{ product.name }}</a></td>
    <td>{{ product.category.name }}</td>
    <td>{{ product.price|price }}</td>
    <td>{{ product.stock or "sold out" }}</td>
  </tr>
  {% endfor %}
</table>
{% if page.has_next %}<a href="{{ url_for('catalog.product_list', page=page.next_num) }}">Next</a>{% endif %}
{% endblock %}
'''

FLASK_PRODUCT_DETAIL_HTML = '''\
{% extends "base.html" %}
{% block title %}{{ product.name }}{% endblock %}
{% block content %}
<h1>{{ product.name }}</h1>
<p>{{ product.category.name }} &middot; {{ product.sku }} &middot; {{ product.price|price }}</p>
{% endblock %}
'''

FLASK_ORDER_LIST_HTML = '''\
{% extends "base.html" %}
{% block title %}Orders{% endblock %}
{% block content %}
<h1>Orders</h1>
<p>{% for status in statuses %}<a href="?status={{ status.value }}">{{ status.name|title }}</a> {% endfor %}</p>
<table>
  <tr><th>#</th><th>Customer</th><th>Status</th><th>Lines</th><th>Total</th></tr>
  {% for order in page.items %}
  <tr>
    <td>{{ order.id }}</td><td>{{ order.customer.name }}</td><td>{{ order.status.value }}</td>
    <td>{{ order.lines|length }}</td><td>{{ order.total|price }}</td>
  </tr>
  {% endfor %}
</table>
{% endblock %}
'''

FLASK_CUSTOMER_LIST_HTML = '''\
{% extends "base.html" %}
{% block title %}Customers{% endblock %}
{% block content %}
<h1>Customers</h1>
<ul>
  {% for customer in page.items %}
  <li><a href="{{ url_for('accounts.customer_detail', customer_id=customer.id) }}">{{ customer.name }}</a>
      ({{ order_counts.get(customer.id, 0) }} orders)</li>
  {% endfor %}
</ul>
{% endblock %}
'''

FLASK_CUSTOMER_DETAIL_HTML = '''\
{% extends "base.html" %}
{% block title %}{{ customer.name }}{% endblock %}
{% block content %}
<h1>{{ customer.name }}</h1>
<p>{{ customer.email }}, since {{ customer.joined_at.strftime("%Y-%m-%d") }}</p>
<ul>{% for address in customer.addresses %}<li>{{ address.postcode }} {{ address.city }}</li>{% endfor %}</ul>
{% endblock %}
'''

FLASK_VIEW_TARGET = EditTarget("shop/main/views.py", "the master, at start", FLASK_MAIN_VIEWS)


def flask_files() -> Dict[str, str]:
    files = {
        "wsgi.py": FLASK_WSGI,
        "shop/__init__.py": FLASK_FACTORY,
        "shop/config.py": FLASK_CONFIG,
        "shop/extensions.py": FLASK_EXTENSIONS,
        "shop/models.py": FLASK_MODELS,
        "shop/commands.py": FLASK_COMMANDS,
        "shop/catalog/views.py": FLASK_CATALOG_VIEWS,
        "shop/orders/views.py": FLASK_ORDERS_VIEWS,
        "shop/accounts/views.py": FLASK_ACCOUNTS_VIEWS,
        "shop/templates/base.html": FLASK_BASE_HTML,
        "shop/templates/404.html": FLASK_404_HTML,
        "shop/templates/main/index.html": FLASK_INDEX_HTML,
        "shop/templates/catalog/product_list.html": FLASK_PRODUCT_LIST_HTML,
        "shop/templates/catalog/product_detail.html": FLASK_PRODUCT_DETAIL_HTML,
        "shop/templates/orders/order_list.html": FLASK_ORDER_LIST_HTML,
        "shop/templates/accounts/customer_list.html": FLASK_CUSTOMER_LIST_HTML,
        "shop/templates/accounts/customer_detail.html": FLASK_CUSTOMER_DETAIL_HTML,
    }
    for name in ("main", "catalog", "orders", "accounts"):
        files["shop/%s/__init__.py" % name] = BLUEPRINT_INIT.format(name=name)
    return files


def write_flask(folder: str) -> App:
    """The app, its tables created and seeded by its own ``flask init-db``."""
    write_files(folder, flask_files())
    FLASK_VIEW_TARGET.write(folder, "start", 0)
    run_in(folder, os.path.join(BIN, "flask"), "--app", "wsgi", "init-db")
    compile_tree(folder)
    return App(
        title="Flask app (factory, 4 blueprints, Flask-SQLAlchemy, Jinja, sqlite)",
        folder=folder,
        wsgi="wsgi:app",
        health="/health/",
        load_paths=(
            "/", "/catalog/?category=books", "/catalog/1/", "/catalog/api/products?max_price=50",
            "/orders/?status=paid", "/orders/api/orders", "/accounts/", "/health/",
        ),
        targets=(FLASK_VIEW_TARGET,),
        devserver=("flask", "--app", "wsgi", "run", "--debug", "-p", "{port}"),
        devserver_label="flask run --debug",
    )
