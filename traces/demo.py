"""Demo data: 14 days of a RAG support chatbot and a tool-using research agent.

Deterministic (seeded, ids derived from positions), written through the same bulk write step
ingestion uses, and skipped when the project already has it, so `make run` can call it every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from projects.models import Project
from prompts.models import Prompt
from prompts.services import prompt_version_create
from traces.models import Trace
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

DEMO_TAG = "demo"
DAYS = 14

# USD per million tokens, as the providers list them; the SDK "provides" these costs in the demo.
_PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "text-embedding-3-small": (0.02, 0.0),
}

_QUESTIONS = [
    "How do I reset my password?",
    "Can I export my invoices as CSV?",
    "Why was my card declined?",
    "How do I add a teammate to my workspace?",
    "Does the API support pagination?",
    "What is the rate limit for the free plan?",
    "Comment changer la langue de l'interface ?",
    "¿Puedo cancelar mi suscripción en cualquier momento?",
    "如何导出我的数据？",  # noqa: RUF001 - Chinese punctuation is the point
    "Wie aktiviere ich die Zwei-Faktor-Authentifizierung?",
]
_DOCS = [
    "Passwords can be reset from Settings → Security → Reset password. A link is emailed and valid for 1 hour.",
    "Invoices are listed under Billing. Each invoice can be downloaded as PDF; CSV export covers all invoices.",
    "Cards are declined when the bank refuses the charge, the card expired, or the billing address differs.",
    "Workspace owners invite teammates from Settings → Members with a role: admin, member or viewer.",
    "List endpoints return 50 items per page and a `next` cursor; pass it as `cursor` to read on.",
    "The free plan allows 60 requests per minute per key; paid plans raise it to 600.",
]
_RESEARCH = [
    "Summarise this week's papers on retrieval-augmented generation",
    "Compare the pricing of three vector databases",
    "Find the latest release notes of PostgreSQL and list breaking changes",
    "What are the main risks in our Q3 vendor contracts?",
]
_USERS = [f"user-{n:03d}" for n in range(1, 41)]


@dataclass
class _Batch:
    traces: list[TraceIn]
    observations: list[ObservationIn]
    scores: list[ScoreIn]


def _cost(model: str, usage: dict[str, int]) -> dict[str, float]:
    price_in, price_out = _PRICES[model]
    cost = {"input": usage.get("input", 0) * price_in / 1e6, "output": usage.get("output", 0) * price_out / 1e6}
    cost["total"] = cost["input"] + cost["output"]
    return cost


def _generation(
    batch: _Batch,
    rng: random.Random,
    *,
    trace_id: str,
    obs_id: str,
    parent_id: str,
    start: datetime,
    model: str,
    messages: list[dict[str, str]],
    answer: str,
    prompt: tuple[str, int] | None,
    environment: str,
    name: str = "llm.answer",
    failed: bool = False,
) -> datetime:
    usage = {"input": rng.randint(350, 2400), "output": rng.randint(40, 600)}
    if rng.random() < 0.3:
        usage["cache_read"] = rng.randint(100, usage["input"] // 2)
    usage["total"] = usage["input"] + usage["output"]
    ttft = timedelta(milliseconds=rng.randint(180, 900))
    end = start + ttft + timedelta(milliseconds=usage["output"] * rng.randint(8, 22))
    batch.observations.append(
        ObservationIn(
            id=obs_id,
            trace_id=trace_id,
            parent_id=parent_id,
            type="GENERATION",
            name=name,
            start_time=start,
            end_time=end,
            completion_start_time=start + ttft,
            model=model,
            model_parameters={"temperature": 0.2, "max_tokens": 800},
            input=messages,
            output=None if failed else {"role": "assistant", "content": answer},
            level="ERROR" if failed else "DEFAULT",
            status_message="Rate limit reached for requests (429)" if failed else None,
            usage=None if failed else usage,
            cost=None if failed else _cost(model, usage),
            cost_source=None if failed else "provided",
            prompt_name=prompt[0] if prompt else None,
            prompt_version=prompt[1] if prompt else None,
            environment=environment,
        )
    )
    return end


def _chatbot_trace(batch: _Batch, rng: random.Random, n: int, start: datetime, session: str, user: str) -> None:
    environment = "production" if n % 5 else "staging"
    trace_id = f"demo-chat-{n:05d}"
    question = rng.choice(_QUESTIONS)
    docs = rng.sample(_DOCS, 3)
    answer = f"{docs[0]} Let me know if anything else is unclear."
    variant = 2 if rng.random() < 0.8 else 3
    t = start
    root = ObservationIn(
        id=f"{trace_id}-root",
        trace_id=trace_id,
        name="support-chat",
        type="CHAIN",
        start_time=t,
        input={"question": question},
        output={"answer": answer},
        environment=environment,
    )
    batch.observations.append(root)
    embed_end = t + timedelta(milliseconds=rng.randint(40, 160))
    embed_usage = {"input": len(question) // 3, "total": len(question) // 3}
    batch.observations.append(
        ObservationIn(
            id=f"{trace_id}-embed",
            trace_id=trace_id,
            parent_id=f"{trace_id}-root",
            type="EMBEDDING",
            name="embed-query",
            start_time=t,
            end_time=embed_end,
            model="text-embedding-3-small",
            input=question,
            usage=embed_usage,
            cost=_cost("text-embedding-3-small", embed_usage),
            cost_source="provided",
            environment=environment,
        )
    )
    retrieve_end = embed_end + timedelta(milliseconds=rng.randint(20, 120))
    batch.observations.append(
        ObservationIn(
            id=f"{trace_id}-retrieve",
            trace_id=trace_id,
            parent_id=f"{trace_id}-root",
            type="RETRIEVER",
            name="vector-search",
            start_time=embed_end,
            end_time=retrieve_end,
            input={"query": question, "k": 3},
            output=[
                {"id": f"doc-{_DOCS.index(d)}", "score": round(rng.uniform(0.7, 0.95), 3), "text": d} for d in docs
            ],
            metadata={"index": "support-docs", "top_k": 3},
            environment=environment,
        )
    )
    messages = [
        {"role": "system", "content": "You are a helpful support assistant. Answer from the context only."},
        {"role": "user", "content": "Context:\n" + "\n".join(docs) + f"\n\nQuestion: {question}"},
    ]
    model = "gpt-4o-mini" if environment == "production" else "gpt-4.1"
    gen_start = retrieve_end + timedelta(milliseconds=5)
    failed = rng.random() < 0.06
    if failed:
        gen_start = _generation(
            batch,
            rng,
            trace_id=trace_id,
            obs_id=f"{trace_id}-gen-failed",
            parent_id=f"{trace_id}-root",
            start=gen_start,
            model=model,
            messages=messages,
            answer="",
            prompt=("support/answer", variant),
            environment=environment,
            failed=True,
        )
    end = _generation(
        batch,
        rng,
        trace_id=trace_id,
        obs_id=f"{trace_id}-gen",
        parent_id=f"{trace_id}-root",
        start=gen_start,
        model=model,
        messages=messages,
        answer=answer,
        prompt=("support/answer", variant),
        environment=environment,
    )
    guard_end = end + timedelta(milliseconds=rng.randint(5, 30))
    batch.observations.append(
        ObservationIn(
            id=f"{trace_id}-guard",
            trace_id=trace_id,
            parent_id=f"{trace_id}-root",
            type="GUARDRAIL",
            name="pii-filter",
            start_time=end,
            end_time=guard_end,
            output={"passed": True},
            environment=environment,
        )
    )
    root.end_time = guard_end  # the root span ends last
    batch.traces.append(
        TraceIn(
            id=trace_id,
            timestamp=start,
            name="support-chat",
            user_id=user,
            session_id=session,
            tags=["rag", "support", DEMO_TAG],
            input={"question": question},
            output={"answer": answer},
            metadata={"app_version": "1.4.2" if n % 3 else "1.5.0", "locale": "en"},
            environment=environment,
            release="2026.11",
        )
    )
    if rng.random() < 0.35:
        thumbs = 1.0 if rng.random() < 0.78 else 0.0
        batch.scores.append(
            ScoreIn(
                id=f"{trace_id}-feedback",
                name="user-feedback",
                value=thumbs,
                data_type="BOOLEAN",
                source="FEEDBACK",
                trace_id=trace_id,
                timestamp=guard_end + timedelta(seconds=20),
                comment=None if thumbs else "The answer did not cover my case.",
                environment=environment,
            )
        )
    if rng.random() < 0.5:
        batch.scores.append(
            ScoreIn(
                id=f"{trace_id}-faithfulness",
                name="faithfulness",
                value=round(rng.uniform(0.55, 1.0), 2),
                source="EVAL",
                trace_id=trace_id,
                timestamp=guard_end + timedelta(minutes=2),
                environment=environment,
            )
        )


def _agent_trace(batch: _Batch, rng: random.Random, n: int, start: datetime, user: str) -> None:
    trace_id = f"demo-agent-{n:05d}"
    task = rng.choice(_RESEARCH)
    environment = "production"
    agent = ObservationIn(
        id=f"{trace_id}-agent",
        trace_id=trace_id,
        type="AGENT",
        name="research-agent",
        start_time=start,
        input={"task": task},
        environment=environment,
    )
    batch.observations.append(agent)
    root = agent.id
    t = start
    messages: list[dict[str, str]] = [
        {"role": "system", "content": "You are a research agent with tools."},
        {"role": "user", "content": task},
    ]
    steps = rng.randint(2, 4)
    errored = False
    for step in range(steps):
        plan_end = _generation(
            batch,
            rng,
            trace_id=trace_id,
            obs_id=f"{trace_id}-plan-{step}",
            parent_id=root,
            start=t,
            model="claude-sonnet-4-5",
            messages=list(messages),
            answer=f"Call the search tool for step {step + 1}.",
            prompt=("agent/planner", 1),
            environment=environment,
        )
        tool = rng.choice(["web_search", "read_url", "sql_query"])
        tool_end = plan_end + timedelta(milliseconds=rng.randint(150, 2500))
        fails = rng.random() < 0.05
        errored = errored or fails
        batch.observations.append(
            ObservationIn(
                id=f"{trace_id}-tool-{step}",
                trace_id=trace_id,
                parent_id=root,
                type="TOOL",
                name=tool,
                start_time=plan_end,
                end_time=tool_end,
                input={"query": f"{task} (step {step + 1})"},
                output=None if fails else {"results": rng.randint(3, 12)},
                level="ERROR" if fails else "DEFAULT",
                status_message="TimeoutError: upstream did not answer in 2s" if fails else None,
                environment=environment,
            )
        )
        messages.append({"role": "assistant", "content": f"Calling {tool}."})
        messages.append({"role": "tool", "content": f"{rng.randint(3, 12)} results"})
        t = tool_end
    summary = f"Here is a summary for: {task}. Key points: one, two, three."
    end = _generation(
        batch,
        rng,
        trace_id=trace_id,
        obs_id=f"{trace_id}-summary",
        parent_id=root,
        start=t,
        model="gpt-4o",
        messages=messages,
        answer=summary,
        prompt=None,
        environment=environment,
        name="summarise",
    )
    agent.end_time = end
    agent.output = {"summary": summary}
    batch.traces.append(
        TraceIn(
            id=trace_id,
            timestamp=start,
            name="research-agent",
            user_id=user,
            session_id=None,
            tags=["agent", "tools", DEMO_TAG] + (["error"] if errored else []),
            input={"task": task},
            output={"summary": summary},
            metadata={"max_steps": 6},
            environment=environment,
            release="2026.11",
        )
    )


def _prompts(project: Project) -> None:
    if Prompt.objects.filter(project=project).exists():
        return
    system = "You are a helpful support assistant for {{product}}. Answer from the context only."
    prompt_version_create(
        project=project,
        name="support/answer",
        commit_message="First version",
        content=[{"role": "system", "content": system}, {"role": "user", "content": "{{question}}"}],
        config={"model": "gpt-4o-mini", "temperature": 0.2},
    )
    prompt_version_create(
        project=project,
        name="support/answer",
        labels=["production"],
        commit_message="Cite the source document",
        content=[
            {"role": "system", "content": system + " Cite the document you used."},
            {"role": "user", "content": "{{question}}"},
        ],
        config={"model": "gpt-4o-mini", "temperature": 0.2},
    )
    prompt_version_create(
        project=project,
        name="support/answer",
        labels=["staging"],
        commit_message="Shorter answers",
        content=[
            {"role": "system", "content": system + " Cite the document. Keep answers under 80 words."},
            {"role": "user", "content": "{{question}}"},
        ],
        config={"model": "gpt-4.1", "temperature": 0.1},
    )
    prompt_version_create(
        project=project,
        name="agent/planner",
        labels=["production"],
        commit_message="Planner for research agent",
        content="Plan the next tool call for the task: {{task}}. Tools: {{tools}}.",
        config={"model": "claude-sonnet-4-5", "temperature": 0},
    )


def demo_data_load(*, project: Project, now: datetime | None = None) -> int:
    """Loads the demo traces into `project` unless they are there already; returns traces written."""
    _prompts(project)
    if Trace.objects.filter(project=project, tags__contains=[DEMO_TAG]).exists():
        return 0
    rng = random.Random(42)  # noqa: S311 - reproducible demo data, not security
    now = now or timezone.now()
    origin = now - timedelta(days=DAYS)
    written = 0
    for day in range(DAYS):
        batch = _Batch([], [], [])
        day_start = origin + timedelta(days=day)
        for session_n in range(rng.randint(28, 40)):
            user = rng.choice(_USERS)
            session = f"demo-session-{day:02d}-{session_n:03d}"
            t = day_start + timedelta(seconds=rng.randint(0, 86_000))
            for _turn in range(rng.randint(1, 4)):
                _chatbot_trace(batch, rng, written + len(batch.traces), t, session, user)
                t += timedelta(seconds=rng.randint(30, 240))
        for _ in range(rng.randint(8, 14)):
            _agent_trace(
                batch,
                rng,
                written + len(batch.traces),
                day_start + timedelta(seconds=rng.randint(0, 86_000)),
                rng.choice(_USERS),
            )
        trace_batch_write(
            project_id=project.pk, traces=batch.traces, observations=batch.observations, scores=batch.scores
        )
        written += len(batch.traces)
    return written
