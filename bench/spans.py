"""A seeded generator of realistic LLM-app traces as OTLP/HTTP protobuf bodies (OpenInference attributes).

Each trace: one root (CHAIN or AGENT) and 4-8 children, among them 1-2 LLM spans (model, invocation
parameters, input messages of 300-1,500 characters, output of 200-800, token counts), one RETRIEVER span with
3 documents, plus tool, embedding and chain spans. Every span carries metadata, user.id, session.id and tags.
This is the workload of /work/shared/reference/perf-anchors.md (≈1.6 KB per span on the wire).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_WORDS = [
    "the",
    "model",
    "answer",
    "retrieval",
    "context",
    "user",
    "query",
    "document",
    "policy",
    "refund",
    "order",
    "shipping",
    "account",
    "latency",
    "token",
    "vector",
    "search",
    "index",
    "agent",
    "tool",
    "call",
    "result",
    "summary",
    "question",
    "customer",
    "support",
    "billing",
    "invoice",
    "plan",
    "upgrade",
    "error",
    "retry",
    "timeout",
    "region",
    "cluster",
    "deploy",
    "release",
    "version",
    "feature",
    "flag",
    "experiment",
    "prompt",
    "template",
    "system",
    "assistant",
    "message",
    "chain",
    "step",
    "reason",
    "plan",
    "observe",
    "act",
    "evaluate",
    "score",
    "judge",
    "dataset",
    "run",
    "trace",
    "span",
    "session",
]
_MODELS = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5", "gemini-2.5-flash", "llama-3.3-70b")
_TAGS = ("prod", "beta", "rag", "agent", "eu", "us", "mobile", "web", "checkout", "search")
_CHILD_KINDS = ("TOOL", "EMBEDDING", "CHAIN", "TOOL", "CHAIN")


@dataclass
class Workload:
    bodies: list[bytes]
    spans: int
    traces: int
    wire_bytes: int


def _kv(key: str, value: str | int | float | bool | list[str]) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        any_value = AnyValue()
        any_value.array_value.values.extend(AnyValue(string_value=v) for v in value)
        return KeyValue(key=key, value=any_value)
    return KeyValue(key=key, value=AnyValue(string_value=value))


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - benchmark data, not security

    def text(self, low: int, high: int) -> str:
        target = self.rng.randint(low, high)
        words = self.rng.choices(_WORDS, k=target // 5 + 2)
        return " ".join(words)[:target]

    def hex_id(self, size: int) -> bytes:
        return self.rng.randbytes(size)

    def common(self, user: str, session: str, tags: list[str], step: int) -> list[KeyValue]:
        metadata = {"step": step, "tenant": f"t-{self.rng.randint(1, 40)}", "experiment": "bench"}
        return [
            _kv("user.id", user),
            _kv("session.id", session),
            _kv("tag.tags", tags),
            _kv("metadata", json.dumps(metadata)),
        ]

    def llm(self) -> list[KeyValue]:
        prompt = self.text(300, 1500)
        answer = self.text(200, 800)
        tokens_in, tokens_out = len(prompt) // 4, len(answer) // 4
        return [
            _kv("openinference.span.kind", "LLM"),
            _kv("llm.model_name", self.rng.choice(_MODELS)),
            _kv("llm.invocation_parameters", json.dumps({"temperature": 0.2, "max_tokens": 1024})),
            _kv("llm.input_messages.0.message.role", "system"),
            _kv("llm.input_messages.0.message.content", "You are a helpful support assistant."),
            _kv("llm.input_messages.1.message.role", "user"),
            _kv("llm.input_messages.1.message.content", prompt),
            _kv("llm.output_messages.0.message.role", "assistant"),
            _kv("llm.output_messages.0.message.content", answer),
            _kv("llm.token_count.prompt", tokens_in),
            _kv("llm.token_count.completion", tokens_out),
            _kv("llm.token_count.total", tokens_in + tokens_out),
        ]

    def retriever(self) -> list[KeyValue]:
        attrs = [_kv("openinference.span.kind", "RETRIEVER"), _kv("input.value", self.text(40, 120))]
        for i in range(3):
            prefix = f"retrieval.documents.{i}.document."
            attrs += [
                _kv(prefix + "id", f"doc-{self.rng.randint(1, 100000)}"),
                _kv(prefix + "content", self.text(100, 300)),
                _kv(prefix + "score", round(self.rng.random(), 4)),
                _kv(prefix + "metadata", json.dumps({"source": "kb", "page": self.rng.randint(1, 300)})),
            ]
        return attrs

    def other(self, kind: str) -> list[KeyValue]:
        attrs = [_kv("openinference.span.kind", kind)]
        if kind == "TOOL":
            attrs += [_kv("tool.name", self.rng.choice(("search", "lookup_order", "calculator")))]
            attrs += [_kv("input.value", json.dumps({"q": self.text(20, 60)}))]
            attrs += [_kv("input.mime_type", "application/json"), _kv("output.value", self.text(200, 800))]
        elif kind == "EMBEDDING":
            attrs += [_kv("embedding.model_name", "text-embedding-3-small")]
            attrs += [_kv("embedding.embeddings.0.embedding.text", self.text(40, 120))]
        else:
            attrs += [_kv("input.value", self.text(200, 900)), _kv("output.value", self.text(100, 600))]
        return attrs


def workload(spans: int, batch: int, seed: int, start_ns: int) -> Workload:
    """`spans` spans (whole traces, the last one cut to fit) in OTLP bodies of `batch` spans each."""
    gen = _Gen(seed)
    flat: list[Span] = []
    traces = 0
    clock = start_ns
    while len(flat) < spans:
        traces += 1
        trace_id = gen.hex_id(16)
        root_id = gen.hex_id(8)
        user = f"user-{gen.rng.randint(1, 500)}"
        session = f"session-{gen.rng.randint(1, 2000)}"
        tags = sorted(gen.rng.sample(_TAGS, 2))
        children = gen.rng.randint(4, 8)
        kinds = ["LLM"] * gen.rng.randint(1, 2) + ["RETRIEVER"]
        kinds += [gen.rng.choice(_CHILD_KINDS) for _ in range(children - len(kinds))]
        gen.rng.shuffle(kinds)
        t = clock
        trace_spans: list[Span] = []
        for step, kind in enumerate(kinds, start=1):
            duration = gen.rng.randint(5, 900) * 1_000_000
            attrs = gen.llm() if kind == "LLM" else gen.retriever() if kind == "RETRIEVER" else gen.other(kind)
            span = Span(
                trace_id=trace_id,
                span_id=gen.hex_id(8),
                parent_span_id=root_id,
                name=kind.lower(),
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=t,
                end_time_unix_nano=t + duration,
            )
            span.attributes.extend(attrs + gen.common(user, session, tags, step))
            trace_spans.append(span)
            t += duration
        root = Span(
            trace_id=trace_id,
            span_id=root_id,
            name=gen.rng.choice(("chat", "agent_run", "rag_query")),
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=clock,
            end_time_unix_nano=t,
        )
        root_kind = gen.rng.choice(("CHAIN", "AGENT"))
        root.attributes.extend(
            [
                _kv("openinference.span.kind", root_kind),
                _kv("input.value", gen.text(200, 1000)),
                _kv("output.value", gen.text(200, 800)),
                *gen.common(user, session, tags, 0),
            ]
        )
        # Exporters send children first (they end first), then the root.
        flat.extend([*trace_spans, root])
        clock += 1_000_000_000
    flat = flat[:spans]
    bodies: list[bytes] = []
    for i in range(0, len(flat), batch):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            [_kv("service.name", "bench-app"), _kv("deployment.environment.name", "production")]
        )
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "openinference.instrumentation.bench"
        scope_spans.spans.extend(flat[i : i + batch])
        bodies.append(request.SerializeToString())
    return Workload(bodies=bodies, spans=len(flat), traces=traces, wire_bytes=sum(map(len, bodies)))
