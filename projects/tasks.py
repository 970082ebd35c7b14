"""Scheduled upkeep for tenancy (queue: maintenance)."""

from __future__ import annotations

from celery import shared_task

from projects.services import invitations_prune_expired


@shared_task(name="projects.maintenance.prune_expired_invitations")
def prune_expired_invitations() -> int:
    # Safe to run twice: the second run finds nothing expired left to delete.
    return invitations_prune_expired()
