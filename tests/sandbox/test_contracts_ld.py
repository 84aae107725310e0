"""Contract tests for the sandbox Orion-LD: every case of ``recordings/orion-ld.json`` (Orion-LD
1.6.0, primary sequence and the TRoE variant), replayed in file order over real HTTP against a
fresh sandbox, with the matcher of the fixtures' README (see ``test_contracts``).

The recordings' helper on 127.0.0.1:9941 (the user ``@context`` and the notification receiver) is
registered in-process on the sandbox, so no fixed port is needed; ``127.0.0.1:9`` (the context
that cannot be downloaded) is really fetched and really refused.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import httpx
import pytest
from test_contracts import _check, _request_body, _send, match, substitute

from fiware_sandbox import FiwareSandbox, NotificationRecorder
from tests.waiting import ANSWER_SECONDS

RECORDING = json.loads(
    (Path(__file__).parent / "recordings" / "orion-ld.json").read_text(encoding="utf-8")
)
HELPER_URL = "http://127.0.0.1:9941"
SEQUENCES = {
    "orion-ld-1.6.0": (RECORDING["cases"], RECORDING["captured_notifications"]),
    "orion-ld-1.6.0-troe": (
        RECORDING["variants"][0]["cases"],
        RECORDING["variants"][0]["captured_notifications"],
    ),
}


@cache
def replay(sequence: str) -> dict[str, list[str]]:
    cases, captured = SEQUENCES[sequence]
    results: dict[str, list[str]] = {}
    binds: dict[str, str] = {}
    recorder = NotificationRecorder()
    only_ld = {"sth_port": None, "orion_port": None, "iot_agent_port": None, "orion_ld_port": 0}
    troe = sequence.endswith("-troe")
    with (
        FiwareSandbox(**only_ld, orion_ld_troe=troe) as sandbox,
        httpx.Client(timeout=ANSWER_SECONDS) as client,
    ):
        for name in list(client.headers):
            del client.headers[name]
        sandbox.orion_ld.register_context(
            RECORDING["served_context"]["url"], RECORDING["served_context"]["body"]
        )
        sandbox.orion_ld.register_receiver(HELPER_URL, recorder)
        base = sandbox.orion_ld_url
        for case in cases:
            request = case["request"]
            response = _send(
                client,
                base,
                request["method"],
                substitute(request["target"], binds),
                request["headers"],
                _request_body(request),
                ANSWER_SECONDS,
            )
            results[case["name"]] = _check(case, response, binds)
        for index, expected in enumerate(captured):
            problems: list[str] = []
            if index >= len(recorder.requests):
                problems.append(f"only {len(recorder.requests)} notifications were sent")
            else:
                sent = recorder.requests[index]
                if sent.method != expected["method"] or sent.target != expected["path"]:
                    problems.append(f"sent {sent.method} {sent.target}")
                for name, value in expected["headers"].items():
                    actual = sent.headers.get(name)
                    if actual is None:
                        problems.append(f"header {name} missing")
                    else:
                        problems += match(value, actual, binds, f"header {name}")
                problems += match(expected["body"], sent.json(), binds, "body")
            results[f"captured_notifications[{index}]"] = problems
        if len(recorder.requests) > len(captured):
            results["captured_notifications[extra]"] = [
                f"{len(recorder.requests)} notifications sent, {len(captured)} recorded"
            ]
    return results


def _ids() -> list[tuple[str, str]]:
    ids = []
    for sequence, (cases, captured) in SEQUENCES.items():
        ids += [(sequence, case["name"]) for case in cases]
        ids += [(sequence, f"captured_notifications[{i}]") for i in range(len(captured))]
    return ids


@pytest.mark.parametrize(("sequence", "case"), _ids(), ids=[f"{s}:{c}" for s, c in _ids()])
def test_recorded_case(sequence: str, case: str) -> None:
    problems = replay(sequence)[case]
    assert not problems, "\n".join(problems)


def test_every_case_is_replayed_and_nothing_more_is_notified() -> None:
    assert {name: len(cases) for name, (cases, _) in SEQUENCES.items()} == {
        "orion-ld-1.6.0": 64,
        "orion-ld-1.6.0-troe": 64,
    }
    for sequence in SEQUENCES:
        results = replay(sequence)
        assert "captured_notifications[extra]" not in results
        assert len(results) == 64 + len(SEQUENCES[sequence][1])
