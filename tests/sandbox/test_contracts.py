"""Contract tests: every recorded exchange with the real FIWARE services, replayed on the sandbox.

The recordings (``recordings/*.json``, copied from the shared contract fixtures) hold request and
response pairs from STH-Comet 2.11, Orion 3.10.1 and 4.1.0, and the IoT Agent (MongoDB and memory
registries). Each sequence is replayed in file order over real HTTP against a fresh sandbox; each
case is one test. Matching follows the fixtures' README: placeholders are wildcards,
``<subscription-id-N>`` is bound and reused in later targets, numbers are type-strict, JSON key
order matters, listed headers must match and Fiware-Total-Count / Location / Content-Type must be
absent when not listed, ``body_text`` is compared as text and ``body_trimmed`` as a prefix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from fiware_sandbox import FiwareSandbox, NotificationRecorder
from tests.waiting import ANSWER_SECONDS

RECORDINGS = Path(__file__).parent / "recordings"
PLACEHOLDER = re.compile(r"<[a-z0-9-]+>")
ABSENT_UNLESS_LISTED = ("fiware-total-count", "location", "content-type")
RECEIVER_URL = "http://127.0.0.1:9931"  # the subscription receiver of the Orion recordings
HANG_TIMEOUT_S = 0.5  # a case that expects no answer: it always reaches this


def match(
    expected: Any, actual: Any, binds: dict[str, str], path: str = "$", prefix=False
) -> list[str]:
    """Mismatches between a recorded value and an actual one (placeholders are wildcards)."""
    if isinstance(expected, str) and PLACEHOLDER.search(expected):
        actual_text = actual if isinstance(actual, str) else json.dumps(actual)
        names, parts = PLACEHOLDER.findall(expected), PLACEHOLDER.split(expected)
        pattern = (
            "^"
            + "".join(
                re.escape(part) + ("(.+?)" if i < len(names) else "")
                for i, part in enumerate(parts)
            )
            + "$"
        )
        found = re.match(pattern, actual_text, re.S)
        if not found:
            return [f"{path}: {actual_text!r} !~ {expected!r}"]
        for name, value in zip(names, found.groups(), strict=True):
            if name.startswith("<subscription-id"):
                if name in binds and binds[name] != value:
                    return [f"{path}: {name} was {binds[name]!r}, now {value!r}"]
                binds[name] = value
        return []
    if type(expected) is not type(actual):
        return [f"{path}: {expected!r} vs {actual!r}"]
    if isinstance(expected, dict):
        if list(expected) != list(actual):
            return [f"{path}: keys {list(expected)} != {list(actual)}"]
        return [
            e for k in expected for e in match(expected[k], actual[k], binds, f"{path}.{k}", prefix)
        ]
    if isinstance(expected, list):
        if len(expected) != len(actual) and not (prefix and len(actual) > len(expected)):
            return [f"{path}: len {len(expected)} != {len(actual)}"]
        return [
            e
            for i, (a, b) in enumerate(zip(expected, actual, strict=False))
            for e in match(a, b, binds, f"{path}[{i}]", prefix)
        ]
    return [] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]


def substitute(text: str, binds: dict[str, str]) -> str:
    for name, value in binds.items():
        text = text.replace(name, value)
    return text


# ------------------------------------------------------------------------------------ suites


@dataclass
class Suite:
    name: str
    file: str
    variant: int | None
    sandbox_options: dict[str, Any]
    about_port: int | str | None = None
    cases: list[dict[str, Any]] = field(default_factory=list)
    captured: list[dict[str, Any]] = field(default_factory=list)


def _load(file: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / file).read_text(encoding="utf-8"))


def _suites() -> list[Suite]:
    sth = _load("sth-comet.json")
    orion = _load("orion.json")
    iota = _load("iot-agent.json")
    only = {"sth_port": None, "orion_port": None, "iot_agent_port": None}
    return [
        Suite("sth-comet", "sth-comet.json", None, {**only, "sth_port": 0}, cases=sth["cases"]),
        Suite(
            "orion-3.10.1",
            "orion.json",
            None,
            {**only, "orion_port": 0},
            cases=orion["cases"],
            captured=orion["captured_notifications"],
        ),
        Suite(
            "orion-4.1.0",
            "orion.json",
            0,
            {**only, "orion_port": 0, "orion_version": "4.1.0"},
            cases=orion["variants"][0]["cases"],
            captured=orion["variants"][0]["captured_notifications"],
        ),
        Suite(
            "iot-agent-mongodb",
            "iot-agent.json",
            None,
            {**only, "iot_agent_port": 0},
            about_port=4041,
            cases=iota["cases"],
        ),
        Suite(
            "iot-agent-memory",
            "iot-agent.json",
            0,
            {**only, "iot_agent_port": 0, "iot_agent_registry": "memory"},
            about_port="4042",
            cases=iota["variants"][0]["cases"],
        ),
    ]


SUITES = {suite.name: suite for suite in _suites()}


def _seed_notifications(first: dict[str, Any]) -> list[tuple[dict[str, str], bytes]]:
    """The 249 STH seed notifications that follow notify_legacy_accepted (README recipe)."""
    requests = []
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(1, 250):
        body = json.loads(json.dumps(first["request"]["body"]))
        stamp = (start + timedelta(minutes=15 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        temperature = 15 + 0.25 * (i % 48)
        humidity = f"{40 + 0.5 * (i % 20):.1f}"
        if i == 120:
            humidity = ""
        elif i == 121:
            humidity = "null"
        attributes = body["contextResponses"][0]["contextElement"]["attributes"]
        for attribute in attributes:
            if attribute["name"] == "temperature":
                attribute["value"] = int(temperature) if temperature.is_integer() else temperature
            else:
                attribute["value"] = humidity
            attribute["metadatas"][0]["value"] = stamp
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        requests.append((dict(first["request"]["headers"]), encoded))
    return requests


def _request_body(request: dict[str, Any]) -> bytes | None:
    if "body_format" not in request or request.get("body") is None:
        return None
    if request["body_format"] == "json":
        return json.dumps(request["body"], separators=(",", ":"), ensure_ascii=False).encode()
    return str(request["body"]).encode("utf-8")


def _send(client: httpx.Client, base: str, method: str, target: str, headers, body, timeout):
    url = httpx.URL(base).copy_with(raw_path=target.encode("ascii"))
    return client.request(method, url, headers=headers, content=body, timeout=timeout)


def _check(case: dict[str, Any], response: httpx.Response, binds: dict[str, str]) -> list[str]:
    expected = case["response"]
    problems: list[str] = []
    if response.status_code != expected["status"]:
        problems.append(f"status {response.status_code} != {expected['status']}")
    listed = {name.lower() for name in expected["headers"]}
    for name, value in expected["headers"].items():
        actual = response.headers.get(name)
        if actual is None:
            problems.append(f"header {name} missing")
        else:
            problems += match(value, actual, binds, f"header {name}")
    for name in ABSENT_UNLESS_LISTED:
        if name not in listed and name in response.headers:
            problems.append(f"header {name} present: {response.headers[name]!r}")
    body_format = expected["body_format"]
    raw = response.content
    if body_format == "empty":
        if raw:
            problems.append(f"body should be empty, got {raw[:80]!r}")
    elif "body_text" in expected or body_format == "text":
        text = expected.get("body_text", expected["body"])
        problems += match(text, raw.decode("utf-8"), binds, "body")
    elif body_format == "json":
        try:
            actual_body = json.loads(raw)
        except ValueError:
            return [*problems, f"body is not JSON: {raw[:120]!r}"]
        problems += match(expected["body"], actual_body, binds, "body", "body_trimmed" in expected)
        compact = json.dumps(actual_body, separators=(",", ":"), ensure_ascii=False).encode()
        if compact != raw:
            problems.append("body is not compact JSON")
    return problems


@cache
def replay(suite_name: str) -> dict[str, list[str]]:
    """Replay one suite against a fresh sandbox; mismatches per case name."""
    suite = SUITES[suite_name]
    results: dict[str, list[str]] = {}
    binds: dict[str, str] = {}
    recorder = NotificationRecorder()
    with (
        FiwareSandbox(**suite.sandbox_options) as sandbox,
        httpx.Client(timeout=ANSWER_SECONDS) as client,
    ):
        for name in list(client.headers):
            del client.headers[name]
        sandbox.orion.register_receiver(RECEIVER_URL, recorder)
        sandbox.iot_agent.about_port = suite.about_port
        base = next(iter(sandbox.urls.values()))
        for case in suite.cases:
            request = case["request"]
            target = substitute(request["target"], binds)
            body = _request_body(request)
            call = (client, base, request["method"], target, request["headers"], body)
            problems: list[str] = []
            if case["response"]["status"] is None:
                try:
                    response = _send(*call, HANG_TIMEOUT_S)
                    problems.append(f"expected no answer, got {response.status_code}")
                except httpx.TimeoutException:
                    pass
            else:
                response = _send(*call, ANSWER_SECONDS)
                problems = _check(case, response, binds)
            if case["name"] == "notify_legacy_accepted":
                for headers, seed_body in _seed_notifications(case):
                    seeded = _send(
                        client, base, "POST", "/notify", headers, seed_body, ANSWER_SECONDS
                    )
                    if seeded.status_code != 200:
                        problems.append(f"seed notification answered {seeded.status_code}")
            results[case["name"]] = problems
        for index, captured in enumerate(suite.captured):
            problems = []
            if index >= len(recorder.requests):
                problems.append(f"only {len(recorder.requests)} notifications were sent")
            else:
                sent = recorder.requests[index]
                if sent.method != captured["method"] or sent.target != captured["path"]:
                    problems.append(f"sent {sent.method} {sent.target}")
                for name, value in captured["headers"].items():
                    actual = sent.headers.get(name)
                    if actual is None:
                        problems.append(f"header {name} missing")
                    else:
                        problems += match(value, actual, binds, f"header {name}")
                if "Ngsiv2-AttrsFormat" not in captured["headers"] and (
                    sent.headers.get("Ngsiv2-AttrsFormat") is not None
                ):
                    problems.append("unexpected Ngsiv2-AttrsFormat header")
                problems += match(captured["body"], sent.json(), binds, "body")
            results[f"captured_notifications[{index}]"] = problems
        if suite.captured and len(recorder.requests) > len(suite.captured):
            results["captured_notifications[extra]"] = [
                f"{len(recorder.requests)} notifications sent, {len(suite.captured)} recorded"
            ]
    return results


def _case_ids() -> list[tuple[str, str]]:
    ids = []
    for suite in SUITES.values():
        ids += [(suite.name, case["name"]) for case in suite.cases]
        ids += [(suite.name, f"captured_notifications[{i}]") for i in range(len(suite.captured))]
    return ids


@pytest.mark.parametrize(("suite", "case"), _case_ids(), ids=[f"{s}:{c}" for s, c in _case_ids()])
def test_recorded_case(suite: str, case: str) -> None:
    problems = replay(suite)[case]
    assert not problems, "\n".join(problems)


def test_no_unrecorded_notifications() -> None:
    for suite in SUITES.values():
        assert "captured_notifications[extra]" not in replay(suite.name)


def test_every_recorded_case_is_replayed() -> None:
    counts = {name: len(suite.cases) for name, suite in SUITES.items()}
    assert counts == {
        "sth-comet": 82,
        "orion-3.10.1": 58,
        "orion-4.1.0": 58,
        "iot-agent-mongodb": 29,
        "iot-agent-memory": 29,
    }
