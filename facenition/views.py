from django.shortcuts import render


def reference_page(request):
    """The human-facing API reference at /."""
    return render(request, "reference.html")
