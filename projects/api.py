"""Project APIs: the SDKs' auth check (key-authenticated) and key management (signed-in admins)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.models import ApiKey, Project, Role
from projects.selectors import project_api_keys, project_for_user
from projects.services import api_key_create, api_key_revoke


class PublicProjectsView(APIView):
    """`GET /api/public/projects`: the key's own project, in Langfuse's shape (the SDK's auth check)."""

    @extend_schema(
        responses=inline_serializer(
            "ProjectList",
            {
                "data": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request: Request) -> Response:
        project = Project.objects.select_related("organization").get(pk=request.user.project_id)
        return Response(
            {
                "data": [
                    {
                        "id": str(project.pk),
                        "name": project.name,
                        "organization": {"id": str(project.organization_id), "name": project.organization.name},
                        "metadata": {},
                    }
                ]
            }
        )


class MemberProjectAPIView(APIView):
    """Base for APIs a signed-in user calls under /api/projects/<project_id>/.

    The project is resolved through the user's membership in `initial()`, before any handler runs,
    so outsiders always get 404 and too-low roles 403.
    """

    authentication_classes = [SessionAuthentication]
    min_role: str = Role.VIEWER

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.project, self.role = project_for_user(user=request.user, project_id=kwargs["project_id"])
        if Role.rank(self.role) < Role.rank(self.min_role):
            self.permission_denied(request, message=f"This needs the {self.min_role} role; you are {self.role}.")


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "public_key", "secret_hint", "note", "created_at", "last_used_at", "revoked_at"]


class ApiKeyIn(serializers.Serializer):
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ProjectKeysView(MemberProjectAPIView):
    min_role = Role.ADMIN

    @extend_schema(responses=ApiKeyOut(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        return Response({"data": ApiKeyOut(project_api_keys(project_id=self.project.pk), many=True).data})

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyOut})
    def post(self, request: Request, project_id: int) -> Response:
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = api_key_create(project=self.project, note=data.validated_data["note"], actor=request.user)
        # The secret is in this answer only; it is stored as a hash.
        return Response({**ApiKeyOut(key).data, "secret_key": secret}, status=status.HTTP_201_CREATED)


class ProjectKeyView(MemberProjectAPIView):
    min_role = Role.ADMIN

    @extend_schema(responses=ApiKeyOut)
    def delete(self, request: Request, project_id: int, key_id: int) -> Response:
        key = get_object_or_404(ApiKey.objects.select_related("project__organization"), pk=key_id, project=self.project)
        return Response(ApiKeyOut(api_key_revoke(api_key=key, actor=request.user)).data)
