from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kcp_django import conf
from kcp_django.banks import bank_choices
from kcp_django.models import AccountVerification


def home(request: HttpRequest) -> HttpResponse:
    merchant = conf.get_merchant()
    context = {
        "gateway": merchant.backend.rsplit(".", 1)[-1],
        "mode": merchant.mode,
        "banks": bank_choices(),
        "recent": AccountVerification.objects.all()[:10],
    }
    return render(request, "example_project/home.html", context)
