from django.urls import path

from example_project.shop import views

app_name = "shop"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/<str:number>/refund/", views.refund, name="refund"),
]
