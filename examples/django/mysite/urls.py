from django.urls import path


def index(request):
    # shop.views is imported on the first request, in whichever worker serves
    # it: a module that only that worker has loaded, long after the fork.
    from shop import views

    return views.index(request)


urlpatterns = [path("", index)]
