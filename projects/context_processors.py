"""Navigation context for every page: the user's projects (switcher) and the current project."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from projects.selectors import projects_for_user


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        # Lazy: evaluated only if the template iterates it (the switcher), one query.
        "nav_projects": projects_for_user(user=user),
        "current_project": getattr(request, "project", None),
        "current_role": getattr(request, "role", None),
    }
