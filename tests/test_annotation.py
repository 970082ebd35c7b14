"""Annotation: the score panel (trace, observation, session targets) and Settings → Scores.

alice owns Acme, bob is a member, dave is an Acme viewer, charlie owns Globex only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import AuditEvent, Membership, Role
from tests.conftest import PASSWORD, Tenant
from traces.models import Score, ScoreConfig, Trace
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HTMX = {"HX-Request": "true"}


@pytest.fixture
def data(acme: Tenant, globex: Tenant) -> Tenant:
    """Acme: trace t1 (session s1, environment production) with span o1 and one API score; Globex: trace g1."""
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[TraceIn(id="t1", timestamp=T0, name="chat", session_id="s1", environment="production")],
        observations=[
            ObservationIn(
                id="o1", trace_id="t1", start_time=T0, end_time=T0 + timedelta(seconds=2), environment="production"
            )
        ],
        scores=[
            ScoreIn(
                id="api-1",
                name="faithfulness",
                value=0.75,
                timestamp=T0,
                trace_id="t1",
                source="EVAL",
                comment="judged by gpt",
            )
        ],
    )
    trace_batch_write(project_id=globex.project.pk, traces=[TraceIn(id="g1", timestamp=T0, session_id="gs")])
    return acme


@pytest.fixture
def dave_client(acme: Tenant) -> Client:
    from projects.services import user_create

    dave = user_create(email="dave@example.com", password=PASSWORD, name="Dave")
    Membership.objects.create(organization=acme.organization, user=dave, role=Role.VIEWER)
    client = Client()
    client.force_login(dave)
    return client


def _config(project: Any, name: str, data_type: str, **extra: Any) -> ScoreConfig:
    return ScoreConfig.objects.create(project=project, name=name, data_type=data_type, **extra)


def _panel(project: Any, **target: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in target.items())
    return f"{reverse('score-panel', args=[project.pk])}?{query}"


def _annotations(project: Any) -> list[Score]:
    return list(Score.objects.filter(project=project, source="ANNOTATION").order_by("name", "author_user_id"))


# --- Reading the panel ------------------------------------------------------------------------------


def test_panel_lists_the_traces_scores_with_source_comment_and_author(data: Tenant, bob_client: Client, bob) -> None:
    bob_client.post(_panel(data.project, trace_id="t1"), {"action": "quick", "quick": "thumbs-up"}, headers=HTMX)
    response = bob_client.get(_panel(data.project, trace_id="t1"), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # htmx gets the fragment only
    assert "faithfulness" in html and "0.75" in html and "EVAL" in html and "judged by gpt" in html
    assert "thumbs" in html and "ANNOTATION" in html and "Bob" in html


def test_direct_visit_gets_a_page_and_no_params_is_404(data: Tenant, alice_client: Client) -> None:
    response = alice_client.get(_panel(data.project, trace_id="t1"))
    assert response.status_code == 200
    assert "<html" in response.content.decode() and 'data-testid="score-panel"' in response.content.decode()
    for target in ({"session_id": "s1"}, {"trace_id": "t1", "observation_id": "o1"}):
        assert alice_client.get(_panel(data.project, **target)).status_code == 200
    assert alice_client.get(reverse("score-panel", args=[data.project.pk])).status_code == 404


def test_panel_queries_do_not_grow_with_scores(
    data: Tenant, alice_client: Client, django_assert_max_num_queries
) -> None:
    from projects.services import user_create

    _config(data.project, "correctness", "NUMERIC")
    url = _panel(data.project, trace_id="t1")
    alice_client.post(url, {"action": "quick", "quick": "thumbs-up"}, headers=HTMX)  # one authored score
    with django_assert_max_num_queries(12) as few:
        assert alice_client.get(url, headers=HTMX).status_code == 200
    for n in range(15):
        author = user_create(email=f"u{n}@example.com", password=None)
        Score.objects.create(
            project=data.project,
            id=f"s{n}",
            name=f"n{n}",
            value=n,
            trace_id="t1",
            timestamp=T0,
            source="ANNOTATION",
            author_user_id=author.pk,
            comment="c",
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = alice_client.get(url, headers=HTMX)
    assert response.content.decode().count('class="score-item"') == 17


def test_a_trace_panel_leaves_out_span_scores_and_each_target_keeps_its_own(data: Tenant, bob_client: Client) -> None:
    bob_client.post(_panel(data.project, trace_id="t1", observation_id="o1"), {"action": "quick", "quick": "good"})
    bob_client.post(_panel(data.project, session_id="s1"), {"action": "quick", "quick": "bad"})
    on_span = Score.objects.get(project=data.project, observation_id="o1")
    assert (on_span.trace_id, on_span.session_id, on_span.value, on_span.environment) == ("t1", None, 1.0, "production")
    on_session = Score.objects.get(project=data.project, session_id="s1")
    assert (on_session.trace_id, on_session.observation_id, on_session.value) == (None, None, 0.0)
    trace_html = bob_client.get(_panel(data.project, trace_id="t1"), headers=HTMX).content.decode()
    assert 'data-score-name="quality"' not in trace_html
    span_html = bob_client.get(_panel(data.project, trace_id="t1", observation_id="o1"), headers=HTMX).content.decode()
    assert 'data-score-name="quality"' in span_html and "Good" in span_html
    session_html = bob_client.get(_panel(data.project, session_id="s1"), headers=HTMX).content.decode()
    assert 'data-score-name="quality"' in session_html and "Bad" in session_html


# --- Tenancy and roles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        {"trace_id": "g1"},  # Globex's trace through Acme's URL
        {"trace_id": "missing"},
        {"session_id": "gs"},
        {"trace_id": "g1", "observation_id": "o1"},  # Acme's span under the wrong trace
        {"observation_id": "o1"},  # a span needs its trace
    ],
)
def test_a_target_outside_the_project_is_404(data: Tenant, alice_client: Client, target: dict[str, str]) -> None:
    url = _panel(data.project, **target)
    assert alice_client.get(url, headers=HTMX).status_code == 404
    assert alice_client.post(url, {"action": "quick", "quick": "good"}).status_code == 404
    assert not _annotations(data.project)


def test_outsiders_get_404(data: Tenant, charlie_client: Client) -> None:
    url = _panel(data.project, trace_id="t1")
    assert charlie_client.get(url, headers=HTMX).status_code == 404
    assert charlie_client.post(url, {"action": "quick", "quick": "thumbs-up"}).status_code == 404
    assert not _annotations(data.project)


def test_viewers_read_but_cannot_annotate(data: Tenant, dave_client: Client) -> None:
    _config(data.project, "correctness", "NUMERIC")
    url = _panel(data.project, trace_id="t1")
    html = dave_client.get(url, headers=HTMX).content.decode()
    assert "faithfulness" in html and "Thumbs up" not in html and "Save correctness" not in html
    assert "members, admins and owners can annotate" in html
    for body in (
        {"action": "quick", "quick": "thumbs-up"},
        {"action": "score", "config": ScoreConfig.objects.get().pk, "value": "1"},
        {"action": "delete", "score_id": "api-1"},
    ):
        assert dave_client.post(url, body, headers=HTMX).status_code == 403
    assert not _annotations(data.project) and Score.objects.filter(id="api-1").exists()


# --- Quick actions and idempotency -----------------------------------------------------------------


def test_thumbs_is_one_score_per_user_and_a_double_click_changes_nothing(
    data: Tenant, bob_client: Client, alice_client: Client, bob, alice
) -> None:
    url = _panel(data.project, trace_id="t1")
    trace_before = Trace.objects.values().get(project=data.project, id="t1")
    for _ in range(2):
        response = bob_client.post(url, {"action": "quick", "quick": "thumbs-up"}, headers=HTMX)
        assert response.status_code == 200
    assert (
        'value="thumbs-up" class="btn btn-secondary btn-sm score-thumb" aria-pressed="true"'
        in response.content.decode()
    )
    assert json.loads(response["HX-Trigger"]) == {"scores-changed": {"trace_id": "t1"}}
    [score] = _annotations(data.project)
    assert (score.name, score.data_type, score.value, score.string_value) == ("thumbs", "BOOLEAN", 1.0, "True")
    assert (score.author_user_id, score.config_id, score.environment) == (bob.pk, None, "production")
    bob_client.post(url, {"action": "quick", "quick": "thumbs-down"}, headers=HTMX)
    alice_client.post(url, {"action": "quick", "quick": "thumbs-up"}, headers=HTMX)
    scores = _annotations(data.project)
    assert {(s.author_user_id, s.value) for s in scores} == {(bob.pk, 0.0), (alice.pk, 1.0)}
    assert Trace.objects.values().get(project=data.project, id="t1") == trace_before  # rollups untouched


def test_mark_good_and_bad(data: Tenant, bob_client: Client) -> None:
    url = _panel(data.project, trace_id="t1")
    bob_client.post(url, {"action": "quick", "quick": "bad"}, headers=HTMX)
    [score] = _annotations(data.project)
    assert (score.name, score.value, score.string_value) == ("quality", 0.0, "False")
    html = bob_client.post(url, {"action": "quick", "quick": "good"}, headers=HTMX).content.decode()
    assert [s.value for s in _annotations(data.project)] == [1.0]
    assert "Good" in html


def test_quick_actions_link_a_boolean_config_and_yield_to_another_type(data: Tenant, bob_client: Client) -> None:
    thumbs = _config(data.project, "thumbs", "BOOLEAN")
    _config(data.project, "quality", "NUMERIC", min_value=0, max_value=10)
    url = _panel(data.project, trace_id="t1")
    html = bob_client.get(url, headers=HTMX).content.decode()
    assert "Thumbs up" in html and "Mark good" not in html
    bob_client.post(url, {"action": "quick", "quick": "thumbs-up"}, headers=HTMX)
    assert _annotations(data.project)[0].config_id == str(thumbs.pk)
    html = bob_client.post(url, {"action": "quick", "quick": "good"}, headers=HTMX).content.decode()
    assert "is not a boolean one in use" in html
    assert [s.name for s in _annotations(data.project)] == ["thumbs"]


def test_bad_actions_are_400(data: Tenant, bob_client: Client) -> None:
    url = _panel(data.project, trace_id="t1")
    assert bob_client.post(url, {"action": "quick", "quick": "meh"}).status_code == 400
    assert bob_client.post(url, {"action": "explode"}).status_code == 400


# --- Config-driven scores --------------------------------------------------------------------------


def _score(client: Client, project: Any, config: ScoreConfig, value: str, comment: str = "", **target: str) -> str:
    url = _panel(project, **(target or {"trace_id": "t1"}))
    body = {"action": "score", "config": config.pk, "value": value, "comment": comment}
    response = client.post(url, body, headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_numeric_score_in_range_with_comment(data: Tenant, bob_client: Client, bob) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC", min_value=0, max_value=5)
    html = _score(bob_client, data.project, config, "4.5", "  mostly right  ")
    [score] = _annotations(data.project)
    assert (score.name, score.data_type, score.value, score.string_value) == ("helpfulness", "NUMERIC", 4.5, None)
    assert (score.comment, score.config_id, score.author_user_id) == ("mostly right", str(config.pk), bob.pk)
    assert "mostly right" in html and 'value="4.5"' in html  # the form shows the user's current value
    assert "0 to 5" in html


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("7", "Must be at most 5."),
        ("-1", "Must be at least 0."),
        ("abc", "Enter a number."),
        ("", "This field is required."),
        ("inf", "Enter a number."),
    ],
)
def test_numeric_score_errors_are_shown_and_nothing_is_stored(
    data: Tenant, bob_client: Client, value: str, error: str
) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC", min_value=0, max_value=5)
    html = _score(bob_client, data.project, config, value)
    assert error in html and '<details class="score-add" open>' in html
    assert not _annotations(data.project)


def test_boolean_score(data: Tenant, bob_client: Client) -> None:
    config = _config(data.project, "safe", "BOOLEAN")
    assert "Select a valid choice" in _score(bob_client, data.project, config, "maybe")
    assert not _annotations(data.project)
    _score(bob_client, data.project, config, "false")
    [score] = _annotations(data.project)
    assert (score.data_type, score.value, score.string_value) == ("BOOLEAN", 0.0, "False")


def test_categorical_score_stores_label_and_value(data: Tenant, bob_client: Client) -> None:
    categories = [{"label": "correct", "value": 1}, {"label": "partly", "value": 0.5}, {"label": "wrong", "value": 0}]
    config = _config(data.project, "correctness", "CATEGORICAL", categories=categories)
    assert "Select a valid choice" in _score(bob_client, data.project, config, "brilliant")
    html = _score(bob_client, data.project, config, "partly", "missed the refund rule", session_id="s1")
    [score] = _annotations(data.project)
    assert (score.data_type, score.value, score.string_value, score.session_id) == ("CATEGORICAL", 0.5, "partly", "s1")
    assert "missed the refund rule" in html


def test_saving_again_updates_the_same_score_and_can_clear_the_comment(data: Tenant, bob_client: Client) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC")
    _score(bob_client, data.project, config, "1", "first")
    _score(bob_client, data.project, config, "1", "first")
    _score(bob_client, data.project, config, "3")
    [score] = _annotations(data.project)
    assert (score.value, score.comment) == (3.0, None)


def test_archived_configs_leave_the_form_and_refuse_scores(data: Tenant, bob_client: Client) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC", is_archived=True)
    assert "Save helpfulness" not in bob_client.get(_panel(data.project, trace_id="t1"), headers=HTMX).content.decode()
    assert "was archived or deleted" in _score(bob_client, data.project, config, "1")
    assert "was archived or deleted" in _score(bob_client, data.project, ScoreConfig(pk=999999), "1")
    assert not _annotations(data.project)


def test_scores_with_another_projects_config_are_refused(data: Tenant, bob_client: Client, globex: Tenant) -> None:
    theirs = _config(globex.project, "helpfulness", "NUMERIC")
    assert "was archived or deleted" in _score(bob_client, data.project, theirs, "1")
    assert not _annotations(data.project)


def test_hostile_comment_is_escaped(data: Tenant, bob_client: Client) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC")
    html = _score(bob_client, data.project, config, "1", "<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_configs_tells_admins_where_to_create_them(data: Tenant, alice_client: Client, bob_client: Client) -> None:
    url = _panel(data.project, trace_id="t1")
    assert (
        reverse("project-score-configs", args=[data.project.pk]) in alice_client.get(url, headers=HTMX).content.decode()
    )
    assert "Ask an admin" in bob_client.get(url, headers=HTMX).content.decode()


# --- Deleting --------------------------------------------------------------------------------------


def test_delete_only_your_own_annotation(data: Tenant, bob_client: Client, alice_client: Client, bob) -> None:
    url = _panel(data.project, trace_id="t1")
    alice_client.post(url, {"action": "quick", "quick": "good"}, headers=HTMX)
    html = bob_client.post(url, {"action": "quick", "quick": "good"}, headers=HTMX).content.decode()
    assert html.count(">Remove</button>") == 1  # only bob's own annotation offers Remove
    alices = Score.objects.exclude(author_user_id=bob.pk).get(source="ANNOTATION")
    bobs = Score.objects.get(author_user_id=bob.pk)
    for score_id in (alices.id, "api-1"):
        html = bob_client.post(url, {"action": "delete", "score_id": score_id}, headers=HTMX).content.decode()
        assert "not one of your annotations" in html
    assert Score.objects.filter(id__in=[alices.id, "api-1", bobs.id]).count() == 3
    html = bob_client.post(url, {"action": "delete", "score_id": bobs.id}, headers=HTMX).content.decode()
    assert not Score.objects.filter(id=bobs.id).exists() and ">Remove</button>" not in html


def test_without_htmx_a_post_redirects_back_to_the_panel_page(data: Tenant, bob_client: Client) -> None:
    url = _panel(data.project, trace_id="t1")
    response = bob_client.post(url, {"action": "quick", "quick": "thumbs-down"})
    assert response.status_code == 302 and response["Location"] == url
    page = bob_client.get(url).content.decode()
    assert "Saved thumbs." in page and "Down" in page


# --- Settings → Scores -----------------------------------------------------------------------------


def _configs_url(project: Any) -> str:
    return reverse("project-score-configs", args=[project.pk])


def test_admin_creates_each_kind_of_config(data: Tenant, alice_client: Client) -> None:
    url = _configs_url(data.project)
    base = {"min_value": "", "max_value": "", "categories": "", "description": ""}
    for body in (
        {**base, "name": "helpfulness", "data_type": "NUMERIC", "min_value": "0", "max_value": "10"},
        {**base, "name": "safe", "data_type": "BOOLEAN", "min_value": "3"},  # a range means nothing here
        {
            **base,
            "name": "correctness",
            "data_type": "CATEGORICAL",
            "categories": "correct=1\n\n partly = 0.5 \nwrong=0",
            "description": "Is the answer right?",
        },
    ):
        response = alice_client.post(url, body)
        assert response.status_code == 302, response.content.decode()
    configs = {c.name: c for c in ScoreConfig.objects.filter(project=data.project)}
    assert (configs["helpfulness"].min_value, configs["helpfulness"].max_value) == (0, 10)
    assert (configs["safe"].min_value, configs["safe"].categories) == (None, [])
    assert configs["correctness"].categories == [
        {"label": "correct", "value": 1},
        {"label": "partly", "value": 0.5},
        {"label": "wrong", "value": 0},
    ]
    assert AuditEvent.objects.filter(project=data.project, action="score_config.create").count() == 3
    page = alice_client.get(url).content.decode()
    assert "correct = 1" in page and "0 to 10" in page and "Is the answer right?" in page


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": "x", "data_type": "NUMERIC", "min_value": "5", "max_value": "1"}, "must not be below the minimum"),
        ({"name": "x", "data_type": "CATEGORICAL", "categories": "good"}, "Line 1: write label=value"),
        ({"name": "x", "data_type": "CATEGORICAL", "categories": "good=1\nbad=no"}, "Line 2: the value after ="),
        ({"name": "x", "data_type": "CATEGORICAL", "categories": "good=1\ngood=2"}, "appears twice"),
        ({"name": "x", "data_type": "CATEGORICAL", "categories": "good=1"}, "at least two categories"),
        ({"name": "taken", "data_type": "BOOLEAN"}, "already exists"),
        ({"name": "", "data_type": "BOOLEAN"}, "This field is required."),
        ({"name": "x", "data_type": "TEXT"}, "Select a valid choice"),
    ],
)
def test_config_errors_are_shown(data: Tenant, alice_client: Client, body: dict[str, str], error: str) -> None:
    _config(data.project, "taken", "NUMERIC", is_archived=True)
    response = alice_client.post(_configs_url(data.project), body)
    assert response.status_code == 200 and error in response.content.decode()
    assert ScoreConfig.objects.filter(project=data.project).count() == 1


def test_members_and_viewers_read_configs_but_cannot_change_them(
    data: Tenant, bob_client: Client, dave_client: Client
) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC")
    archive = reverse("project-score-config-archive", args=[data.project.pk, config.pk])
    for client in (bob_client, dave_client):
        page = client.get(_configs_url(data.project)).content.decode()
        assert "helpfulness" in page and "Add score config" not in page and ">Archive<" not in page
        assert client.post(_configs_url(data.project), {"name": "x", "data_type": "BOOLEAN"}).status_code == 403
        assert client.post(archive, {"archived": "1"}).status_code == 403
    assert list(ScoreConfig.objects.values_list("name", "is_archived")) == [("helpfulness", False)]


def test_outsiders_get_404_on_configs(
    data: Tenant, charlie_client: Client, alice_client: Client, globex: Tenant
) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC")
    assert charlie_client.get(_configs_url(data.project)).status_code == 404
    archive = reverse("project-score-config-archive", args=[data.project.pk, config.pk])
    assert charlie_client.post(archive, {"archived": "1"}).status_code == 404
    theirs = _config(globex.project, "theirs", "NUMERIC")
    assert (
        alice_client.post(
            reverse("project-score-config-archive", args=[data.project.pk, theirs.pk]), {"archived": "1"}
        ).status_code
        == 404
    )
    assert not ScoreConfig.objects.filter(is_archived=True).exists()


def test_archive_and_restore(data: Tenant, alice_client: Client) -> None:
    config = _config(data.project, "helpfulness", "NUMERIC")
    archive = reverse("project-score-config-archive", args=[data.project.pk, config.pk])
    row = alice_client.post(archive, {"archived": "1"}, headers=HTMX).content.decode()
    assert row.lstrip().startswith("<tr") and "Archived" in row and "Restore" in row
    config.refresh_from_db()
    assert config.is_archived
    response = alice_client.post(archive, {"archived": "0"})
    assert response.status_code == 302
    config.refresh_from_db()
    assert not config.is_archived
    audit = AuditEvent.objects.filter(project=data.project, action="score_config.update").order_by("pk")
    assert [event.after for event in audit] == [{"is_archived": True}, {"is_archived": False}]


def test_settings_header_has_the_scores_tab(data: Tenant, dave_client: Client) -> None:
    page = dave_client.get(_configs_url(data.project)).content.decode()
    assert f'href="{_configs_url(data.project)}" aria-current="page">Scores<' in page
    assert "No score configs yet" in page


def test_out_of_range_ids_are_handled(data: Tenant, alice_client: Client) -> None:
    url = _panel(data.project, trace_id="t1")
    body = {"action": "score", "config": "9" * 30, "value": "1"}
    assert "was archived or deleted" in alice_client.post(url, body, headers=HTMX).content.decode()
    huge = f"/p/{data.project.pk}/settings/scores/{'9' * 30}/archive/"
    assert alice_client.post(huge, {"archived": "1"}).status_code == 404
