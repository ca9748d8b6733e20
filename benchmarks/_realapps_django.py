"""The Django 5.2 project of realapps.py, written the way ``startproject`` lays it out.

shopsite/ (settings, urls, wsgi) and three apps, accounts, catalog and orders,
each with models related across apps, DRF serializers, viewsets filtered by
django-filter, a plain HTML view with its template, urls and admin; sqlite,
migrated and seeded. ``/health/`` shows a token from catalog/views.py (imported
on the first request) and one from catalog/models.py (imported at start).
"""

import os
from typing import Dict

from _realapps_gen import AGENT_WRAPPER, BIN, PRELOAD, App, EditTarget, compile_tree, run_in, write_files

DJANGO_MANAGE = '''\
#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Are you sure it's installed and "
            "available on your PYTHONPATH environment variable? Did you "
            "forget to activate a virtual environment?"
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
'''

DJANGO_SETTINGS = '''\
"""Django settings for shopsite: development, sqlite."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-only-for-local-development-3c9f0d1e7b"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "accounts",
    "catalog",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shopsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "shopsite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "PAGE_SIZE": 20,
}
'''

DJANGO_URLS = '''\
"""URL configuration for shopsite."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("catalog.urls")),
    path("orders/", include("orders.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
]
'''

DJANGO_WSGI = '''\
"""WSGI config for shopsite: exposes ``application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")

application = get_wsgi_application()

if os.environ.get("%s"):
    # What the views, serializers and URLconfs import, so that each worker
    # does not import it again after a restart: only the project's own
    # modules are left to import on the first request.
    import django_filters.rest_framework  # noqa: F401
    import rest_framework.decorators  # noqa: F401
    import rest_framework.routers  # noqa: F401
    import rest_framework.urls  # noqa: F401
    import rest_framework.viewsets  # noqa: F401
    from django.contrib import admin

    admin.site.urls  # the admin's views and URLconf
''' % PRELOAD + AGENT_WRAPPER + '''
    application = _with_agent(application)
'''

DJANGO_ASGI = '''\
"""ASGI config for shopsite: exposes ``application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")

application = get_asgi_application()
'''

APPS_PY = '''\
from django.apps import AppConfig


class {name}Config(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "{label}"
'''

CATALOG_MODELS = '''\
"""Products, their categories and what customers say about them."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

# Shown by /health/: the benchmark rewrites it to edit a module the master imports.
CATALOG_REVISION = "$token"


class Category(models.Model):
    name = models.CharField(max_length=80)
    slug = models.SlugField(unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.CASCADE
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Product(models.Model):
    category = models.ForeignKey(Category, related_name="products", on_delete=models.PROTECT)
    name = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=32, unique=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["category", "is_active"])]

    def __str__(self):
        return f"{self.name} ({self.sku})"

    def get_absolute_url(self):
        return reverse("catalog:product-detail-page", args=[self.pk])

    @property
    def in_stock(self):
        return self.stock > 0


class Review(models.Model):
    product = models.ForeignKey(Product, related_name="reviews", on_delete=models.CASCADE)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="reviews", on_delete=models.CASCADE
    )
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["product", "author"], name="one_review_per_author")
        ]

    def __str__(self):
        return f"{self.rating}/5 for {self.product}"
'''

CATALOG_SERIALIZERS = '''\
from rest_framework import serializers

from .models import Category, Product, Review


class CategorySerializer(serializers.ModelSerializer):
    product_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Category
        fields = ["id", "name", "slug", "parent", "description", "product_count"]


class ProductSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all())
    average_rating = serializers.FloatField(read_only=True)
    in_stock = serializers.BooleanField(read_only=True)

    class Meta:
        model = Product
        fields = [
            "id", "name", "sku", "category", "price", "stock", "in_stock",
            "is_active", "average_rating", "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate_price(self, value):
        if value <= 0:
            raise serializers.ValidationError("The price must be positive.")
        return value


class ReviewSerializer(serializers.ModelSerializer):
    author = serializers.StringRelatedField()

    class Meta:
        model = Review
        fields = ["id", "product", "author", "rating", "body", "created_at"]
        read_only_fields = ["created_at"]
'''

CATALOG_VIEWS = '''\
"""Catalog pages, the catalog API and the health check."""

import django_filters
from django.db.models import Avg, Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .models import CATALOG_REVISION, Category, Product
from .serializers import CategorySerializer, ProductSerializer, ReviewSerializer

# Shown by /health/: the benchmark rewrites it to edit a view module, which
# Django imports on the first request (under uWSGI: in each worker, after the fork).
HEALTH_TEXT = "$token"


def health(request):
    return HttpResponse(f"ok {HEALTH_TEXT} catalog {CATALOG_REVISION}", content_type="text/plain")


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(field_name="category__slug")
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")

    class Meta:
        model = Product
        fields = ["category", "is_active", "min_price", "max_price"]


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Category.objects.annotate(product_count=Count("products")).order_by("name")
    serializer_class = CategorySerializer
    filterset_fields = ["parent"]
    lookup_field = "slug"


class ProductViewSet(viewsets.ModelViewSet):
    queryset = (
        Product.objects.select_related("category")
        .annotate(average_rating=Avg("reviews__rating"))
        .order_by("name")  # aggregating queries ignore Meta.ordering
    )
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    search_fields = ["name", "sku"]
    ordering_fields = ["price", "name", "created_at"]

    @action(detail=True)
    def reviews(self, request, pk=None):
        reviews = self.get_object().reviews.select_related("author")
        return Response(ReviewSerializer(reviews, many=True).data)


def product_list(request):
    products = Product.objects.filter(is_active=True).select_related("category")
    if category := request.GET.get("category"):
        products = products.filter(category__slug=category)
    context = {"products": products[:50], "categories": Category.objects.all()}
    return render(request, "catalog/product_list.html", context)


def product_detail(request, pk):
    product = get_object_or_404(Product.objects.select_related("category"), pk=pk)
    reviews = product.reviews.select_related("author")[:10]
    return render(request, "catalog/product_detail.html", {"product": product, "reviews": reviews})
'''

CATALOG_URLS = '''\
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("categories", views.CategoryViewSet)
router.register("products", views.ProductViewSet)

app_name = "catalog"
urlpatterns = [
    path("", views.product_list, name="product-page"),
    path("products/<int:pk>/", views.product_detail, name="product-detail-page"),
    path("health/", views.health, name="health"),
    path("api/catalog/", include(router.urls)),
]
'''

CATALOG_ADMIN = '''\
from django.contrib import admin

from .models import Category, Product, Review


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    raw_id_fields = ["author"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "parent"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "category", "price", "stock", "is_active"]
    list_filter = ["is_active", "category"]
    list_editable = ["price", "stock", "is_active"]
    search_fields = ["name", "sku"]
    inlines = [ReviewInline]
    actions = ["hide"]

    @admin.action(description="Hide the selected products")
    def hide(self, request, queryset):
        hidden = queryset.update(is_active=False)
        self.message_user(request, f"{hidden} products hidden.")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["product", "author", "rating", "created_at"]
    list_filter = ["rating"]
    raw_id_fields = ["product", "author"]
'''

ORDERS_MODELS = '''\
"""Orders, their lines and how they were paid."""

from decimal import Decimal

from django.db import models
from django.db.models import F, Sum

from accounts.models import Address, Customer
from catalog.models import Product


class Order(models.Model):
    class Status(models.TextChoices):
        CART = "cart", "In cart"
        PLACED = "placed", "Placed"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey(Customer, related_name="orders", on_delete=models.PROTECT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CART)
    shipping_address = models.ForeignKey(Address, null=True, blank=True, on_delete=models.SET_NULL)
    placed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]

    def __str__(self):
        return f"Order #{self.pk} ({self.get_status_display()})"

    def total(self):
        subtotals = F("quantity") * F("unit_price")
        total = self.lines.aggregate(total=Sum(subtotals, output_field=models.DecimalField()))["total"]
        return total or Decimal("0.00")


class OrderLine(models.Model):
    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="order_lines", on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["order", "product"], name="one_line_per_product")]

    def __str__(self):
        return f"{self.quantity} x {self.product}"

    @property
    def subtotal(self):
        return self.quantity * self.unit_price


class Payment(models.Model):
    class Method(models.TextChoices):
        CARD = "card", "Card"
        TRANSFER = "transfer", "Bank transfer"
        VOUCHER = "voucher", "Voucher"

    order = models.OneToOneField(Order, related_name="payment", on_delete=models.CASCADE)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    method = models.CharField(max_length=16, choices=Method.choices)
    paid_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.get_method_display()} payment for order #{self.order_id}"
'''

ORDERS_SERIALIZERS = '''\
from rest_framework import serializers

from .models import Order, OrderLine, Payment


class OrderLineSerializer(serializers.ModelSerializer):
    product_name = serializers.CharField(source="product.name", read_only=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderLine
        fields = ["id", "order", "product", "product_name", "quantity", "unit_price", "subtotal"]


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "order", "amount", "method", "paid_at", "reference"]


class OrderSerializer(serializers.ModelSerializer):
    customer_name = serializers.StringRelatedField(source="customer")
    total = serializers.DecimalField(source="grand_total", max_digits=12, decimal_places=2, read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)
    payment = PaymentSerializer(read_only=True)

    class Meta:
        model = Order
        fields = [
            "id", "customer", "customer_name", "status", "shipping_address",
            "placed_at", "note", "total", "lines", "payment",
        ]
        read_only_fields = ["placed_at"]

    def validate(self, attrs):
        address, customer = attrs.get("shipping_address"), attrs.get("customer")
        if address and customer and address.customer_id != customer.pk:
            raise serializers.ValidationError("The shipping address belongs to another customer.")
        return attrs
'''

ORDERS_VIEWS = '''\
"""Order pages and the order API."""

import django_filters
from django.db.models import DecimalField, F, Sum
from django.shortcuts import render
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .models import Order, OrderLine, Payment
from .serializers import OrderLineSerializer, OrderSerializer, PaymentSerializer

GRAND_TOTAL = Sum(F("lines__quantity") * F("lines__unit_price"), output_field=DecimalField())


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Order.Status.choices)
    placed_after = django_filters.IsoDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = django_filters.IsoDateTimeFilter(field_name="placed_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["customer", "status", "placed_after", "placed_before"]


class OrderViewSet(viewsets.ModelViewSet):
    queryset = (
        Order.objects.select_related("customer__user", "payment")
        .prefetch_related("lines__product")
        .annotate(grand_total=GRAND_TOTAL)
        .order_by("-placed_at", "-id")
    )
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["placed_at", "grand_total"]

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status"])
        return Response(self.get_serializer(order).data)


class OrderLineViewSet(viewsets.ModelViewSet):
    queryset = OrderLine.objects.select_related("product")
    serializer_class = OrderLineSerializer
    filterset_fields = ["order", "product"]


class PaymentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Payment.objects.select_related("order")
    serializer_class = PaymentSerializer
    filterset_fields = ["method"]


def order_list(request):
    orders = (
        Order.objects.select_related("customer__user")
        .annotate(grand_total=GRAND_TOTAL)
        .order_by("-placed_at", "-id")
    )
    if status := request.GET.get("status"):
        orders = orders.filter(status=status)
    context = {"orders": orders[:50], "statuses": Order.Status.choices}
    return render(request, "orders/order_list.html", context)
'''

ORDERS_URLS = '''\
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("orders", views.OrderViewSet)
router.register("lines", views.OrderLineViewSet)
router.register("payments", views.PaymentViewSet)

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="order-page"),
    path("api/", include(router.urls)),
]
'''

ORDERS_ADMIN = '''\
from django.contrib import admin

from .models import Order, OrderLine, Payment


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]


class PaymentInline(admin.StackedInline):
    model = Payment
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "status", "placed_at", "total"]
    list_filter = ["status", "placed_at"]
    list_select_related = ["customer__user"]
    search_fields = ["customer__user__username", "note"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline, PaymentInline]

    @admin.display(description="Total")
    def total(self, order):
        return order.total()


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["order", "method", "amount", "paid_at"]
    list_filter = ["method"]
    raw_id_fields = ["order"]
'''

ACCOUNTS_MODELS = '''\
"""Customers of the shop and where their orders go."""

from django.conf import settings
from django.db import models


class Customer(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, related_name="customer", on_delete=models.CASCADE)
    phone = models.CharField(max_length=32, blank=True)
    newsletter = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self):
        return self.user.get_full_name() or self.user.username

    @property
    def default_address(self):
        return self.addresses.filter(is_default=True).first()


class Address(models.Model):
    class Country(models.TextChoices):
        FRANCE = "FR", "France"
        GERMANY = "DE", "Germany"
        ITALY = "IT", "Italy"
        UNITED_KINGDOM = "GB", "United Kingdom"

    customer = models.ForeignKey(Customer, related_name="addresses", on_delete=models.CASCADE)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    postcode = models.CharField(max_length=16)
    country = models.CharField(max_length=2, choices=Country.choices)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["customer", "-is_default", "id"]
        verbose_name_plural = "addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=models.Q(is_default=True), name="one_default_address"
            )
        ]

    def __str__(self):
        return f"{self.line1}, {self.postcode} {self.city}"
'''

ACCOUNTS_SERIALIZERS = '''\
from django.contrib.auth import get_user_model
from rest_framework import serializers

from .models import Address, Customer


class AddressSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", "customer", "line1", "line2", "city", "postcode", "country", "is_default"]


class CustomerSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    order_count = serializers.IntegerField(read_only=True)
    addresses = AddressSerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = ["id", "username", "email", "phone", "newsletter", "joined_at", "order_count", "addresses"]


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "first_name", "last_name", "email", "date_joined"]
'''

ACCOUNTS_VIEWS = '''\
"""Customer pages and the customer API."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch
from django.shortcuts import render
from rest_framework import permissions, viewsets

from .models import Address, Customer
from .serializers import AddressSerializer, CustomerSerializer, UserSerializer


class CustomerFilter(django_filters.FilterSet):
    joined_after = django_filters.DateFilter(field_name="joined_at", lookup_expr="date__gte")
    city = django_filters.CharFilter(field_name="addresses__city", lookup_expr="iexact", distinct=True)

    class Meta:
        model = Customer
        fields = ["newsletter", "joined_after", "city"]


class CustomerViewSet(viewsets.ModelViewSet):
    queryset = (
        Customer.objects.select_related("user")
        .prefetch_related("addresses")
        .annotate(order_count=Count("orders"))
        .order_by("user__username")
    )
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    search_fields = ["user__username", "user__email", "phone"]


class AddressViewSet(viewsets.ModelViewSet):
    queryset = Address.objects.select_related("customer__user")
    serializer_class = AddressSerializer
    filterset_fields = ["country", "city", "is_default"]


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = get_user_model().objects.order_by("username")
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAdminUser]


def customer_list(request):
    defaults = Prefetch("addresses", queryset=Address.objects.filter(is_default=True), to_attr="defaults")
    customers = Customer.objects.select_related("user").prefetch_related(defaults)
    return render(request, "accounts/customer_list.html", {"customers": customers})
'''

ACCOUNTS_URLS = '''\
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("customers", views.CustomerViewSet)
router.register("addresses", views.AddressViewSet)
router.register("users", views.UserViewSet)

app_name = "accounts"
urlpatterns = [
    path("", views.customer_list, name="customer-directory"),
    path("api/", include(router.urls)),
]
'''

ACCOUNTS_ADMIN = '''\
from django.contrib import admin

from .models import Address, Customer


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "phone", "newsletter", "joined_at"]
    list_filter = ["newsletter"]
    search_fields = ["user__username", "user__email", "phone"]
    raw_id_fields = ["user"]
    inlines = [AddressInline]


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ["customer", "city", "country", "is_default"]
    list_filter = ["country", "is_default"]
    search_fields = ["city", "postcode", "customer__user__username"]
'''

DJANGO_BASE_HTML = '''\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}Shop{% endblock %}</title>
</head>
<body>
  <nav>
    <a href="{% url 'catalog:product-page' %}">Catalog</a>
    <a href="{% url 'orders:order-page' %}">Orders</a>
    <a href="{% url 'accounts:customer-directory' %}">Customers</a>
    <a href="{% url 'admin:index' %}">Admin</a>
  </nav>
  <main>{% block content %}{% endblock %}</main>
</body>
</html>
'''

PRODUCT_LIST_HTML = '''\
{% extends "base.html" %}
{% block title %}Catalog{% endblock %}
{% block content %}
<h1>Products</h1>
<ul>
  {% for category in categories %}<li><a href="?category={{ category.slug }}">{{ category.name }}</a></li>{% endfor %}
</ul>
<table>
  <tr><th>Product</th><th>Category</th><th>Price</th><th>Stock</th></tr>
  {% for product in products %}
  <tr>
    <td><a href="{{ product.get_absolute_url }}">{{ product.name }}</a></td>
    <td>{{ product.category.name }}</td>
    <td>{{ product.price }}</td>
    <td>{% if product.in_stock %}{{ product.stock }}{% else %}sold out{% endif %}</td>
  </tr>
  {% empty %}
  <tr><td colspan="4">No products yet.</td></tr>
  {% endfor %}
</table>
{% endblock %}
'''

PRODUCT_DETAIL_HTML = '''\
{% extends "base.html" %}
{% block title %}{{ product.name }}{% endblock %}
{% block content %}
<h1>{{ product.name }}</h1>
<p>{{ product.category.name }} &middot; {{ product.sku }} &middot; {{ product.price }}</p>
<h2>Reviews</h2>
{% for review in reviews %}
<blockquote>{{ review.rating }}/5 by {{ review.author }}: {{ review.body|linebreaksbr }}</blockquote>
{% empty %}
<p>No reviews yet.</p>
{% endfor %}
{% endblock %}
'''

ORDER_LIST_HTML = '''\
{% extends "base.html" %}
{% block title %}Orders{% endblock %}
{% block content %}
<h1>Orders</h1>
<p>{% for value, label in statuses %}<a href="?status={{ value }}">{{ label }}</a> {% endfor %}</p>
<table>
  <tr><th>#</th><th>Customer</th><th>Status</th><th>Placed</th><th>Total</th></tr>
  {% for order in orders %}
  <tr>
    <td>{{ order.pk }}</td>
    <td>{{ order.customer }}</td>
    <td>{{ order.get_status_display }}</td>
    <td>{{ order.placed_at|date:"Y-m-d H:i"|default:"-" }}</td>
    <td>{{ order.grand_total|floatformat:2 }}</td>
  </tr>
  {% endfor %}
</table>
{% endblock %}
'''

CUSTOMER_LIST_HTML = '''\
{% extends "base.html" %}
{% block title %}Customers{% endblock %}
{% block content %}
<h1>Customers</h1>
<ul>
  {% for customer in customers %}
  <li>{{ customer }}{% for address in customer.defaults %}, {{ address.city }}{% endfor %}</li>
  {% endfor %}
</ul>
{% endblock %}
'''

DJANGO_SEED = '''
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Address, Customer
from catalog.models import Category, Product, Review
from orders.models import Order, OrderLine, Payment

rng = random.Random(1)
User = get_user_model()
User.objects.create_superuser("admin", "admin@example.com", "admin")
customers = []
for n in range(1, 21):
    user = User.objects.create_user(f"customer{n}", f"customer{n}@example.com", first_name=f"Customer {n}")
    customer = Customer.objects.create(user=user, newsletter=n % 3 == 0)
    Address.objects.create(customer=customer, line1=f"{n} Main Street", city=rng.choice(["Lyon", "Berlin", "Turin"]),
                           postcode=str(rng.randint(10000, 99999)), country="FR", is_default=True)
    customers.append(customer)
categories = [Category.objects.create(name=name, slug=name.lower()) for name in ("Books", "Games", "Garden", "Kitchen")]
products = [
    Product.objects.create(category=rng.choice(categories), name=f"Product {n}", sku=f"SKU-{n:04d}",
                           price=Decimal(rng.randint(200, 9000)) / 100, stock=rng.randint(0, 40))
    for n in range(1, 61)
]
for product in products[:30]:
    for customer in rng.sample(customers, 2):
        Review.objects.create(product=product, author=customer.user, rating=rng.randint(1, 5), body="Fine.")
for customer in customers:
    status = rng.choice(["placed", "paid", "shipped"])
    order = Order.objects.create(customer=customer, status=status, placed_at=timezone.now(),
                                 shipping_address=customer.default_address)
    for product in rng.sample(products, 3):
        OrderLine.objects.create(order=order, product=product, quantity=rng.randint(1, 4), unit_price=product.price)
    if status != "placed":
        Payment.objects.create(order=order, amount=order.total(), method="card", paid_at=timezone.now())
'''

DJANGO_VIEW_TARGET = EditTarget(
    "catalog/views.py", "a worker, on its first request", CATALOG_VIEWS
)
DJANGO_MODELS_TARGET = EditTarget("catalog/models.py", "the master, at start", CATALOG_MODELS)


def django_files() -> Dict[str, str]:
    files = {
        "manage.py": DJANGO_MANAGE,
        "shopsite/__init__.py": "",
        "shopsite/settings.py": DJANGO_SETTINGS,
        "shopsite/urls.py": DJANGO_URLS,
        "shopsite/wsgi.py": DJANGO_WSGI,
        "shopsite/asgi.py": DJANGO_ASGI,
        "templates/base.html": DJANGO_BASE_HTML,
        "catalog/serializers.py": CATALOG_SERIALIZERS,
        "catalog/urls.py": CATALOG_URLS,
        "catalog/admin.py": CATALOG_ADMIN,
        "catalog/templates/catalog/product_list.html": PRODUCT_LIST_HTML,
        "catalog/templates/catalog/product_detail.html": PRODUCT_DETAIL_HTML,
        "orders/models.py": ORDERS_MODELS,
        "orders/serializers.py": ORDERS_SERIALIZERS,
        "orders/views.py": ORDERS_VIEWS,
        "orders/urls.py": ORDERS_URLS,
        "orders/admin.py": ORDERS_ADMIN,
        "orders/templates/orders/order_list.html": ORDER_LIST_HTML,
        "accounts/models.py": ACCOUNTS_MODELS,
        "accounts/serializers.py": ACCOUNTS_SERIALIZERS,
        "accounts/views.py": ACCOUNTS_VIEWS,
        "accounts/urls.py": ACCOUNTS_URLS,
        "accounts/admin.py": ACCOUNTS_ADMIN,
        "accounts/templates/accounts/customer_list.html": CUSTOMER_LIST_HTML,
    }
    for label in ("catalog", "orders", "accounts"):
        files[label + "/__init__.py"] = ""
        files[label + "/migrations/__init__.py"] = ""
        files[label + "/apps.py"] = APPS_PY.format(name=label.capitalize(), label=label)
    return files


def write_django(folder: str) -> App:
    """The project, migrated and seeded (makemigrations writes the migrations, as users do)."""
    write_files(folder, django_files())
    for target in (DJANGO_VIEW_TARGET, DJANGO_MODELS_TARGET):
        target.write(folder, "start", 0)
    python = os.path.join(BIN, "python")
    run_in(folder, python, "manage.py", "makemigrations", "accounts", "catalog", "orders")
    run_in(folder, python, "manage.py", "migrate")
    run_in(folder, python, "manage.py", "shell", "-c", DJANGO_SEED)
    compile_tree(folder)
    return App(
        title="Django project (3 apps: DRF viewsets + django-filter, admin, sqlite)",
        folder=folder,
        wsgi="shopsite.wsgi:application",
        health="/health/",
        load_paths=(
            "/", "/products/1/", "/api/catalog/products/?is_active=true&max_price=50",
            "/orders/", "/orders/api/orders/?status=paid", "/accounts/api/customers/?newsletter=true",
            "/health/",
        ),
        targets=(DJANGO_VIEW_TARGET, DJANGO_MODELS_TARGET),
        devserver=("python", "manage.py", "runserver", "127.0.0.1:{port}"),
        devserver_label="manage.py runserver",
        preloads=True,
    )
