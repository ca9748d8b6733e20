from django.http import HttpResponse


def index(request):
    return HttpResponse("Hello from Django", content_type="text/plain")
