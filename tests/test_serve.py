"""`decaqa serve` (decaqa.serve): a real server on a free loopback port, started as a user
starts it. Its answers equal `QA.ask`'s; concurrent requests of mixed tasks are batched;
every bad request of the README's table is a 4xx with one sentence; a full queue is 503
with Retry-After; a client that leaves mid-batch breaks nothing; SIGTERM answers what is in
flight, refuses new connections and exits 0; with --adapters each task goes to its own.
Every wait here is bounded."""
from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import decaqa
from decaqa.serve import Refused, Spawned, check_ask

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
REVIEW = "Is this review negative or positive?"
ASKS = [  # (question, context, task, choices): mixed tasks, found tasks, ranked choices
    (REVIEW, "a fine , moving film .", "sst2", None),
    (REVIEW, "dull and far too long .", None, None),
    ("What is the summary?", "The council met on Monday. It voted for a new bridge. " * 4,
     None, None),
    ("Who founded Bousti Bank?", "Krir Shak founded Bousti Bank in 1986.", "squad", None),
    ("What is the change in state?", "I want cheap thai food in the north.", "woz", None),
    (REVIEW, "a fine , moving film .", "sst2", ["negative", "positive"]),
    ("Translate from English to German", "The house is small.", "iwslt", None),
]


class Served(Spawned):
    """A `Spawned` server with an HTTP client."""

    def __init__(self, *args: str):
        super().__init__(*args, ready_s=120)
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def post(self, path: str, body=None, **kw) -> httpx.Response:
        return self.client.post(path, json=body, **kw) if body is not None else \
            self.client.post(path, **kw)

    def stop(self, timeout: float = 60) -> int | None:
        self.client.close()
        return super().stop(timeout)


@pytest.fixture(scope="module")
def model(smoke: Path) -> Path:
    return smoke / "model"


@pytest.fixture(scope="module")
def server(model: Path):
    served = Served(str(model), "--max-body-kb", "8")
    yield served
    assert served.stop() == 0


def body(question, context, task=None, choices=None) -> dict:
    out = {"question": question, "context": context}
    if task is not None:
        out["task"] = task
    if choices is not None:
        out["choices"] = choices
    return out


def expected(qa, asks) -> list[dict]:
    """What `QA.ask_many` answers for these requests, one by one (as `ask` would)."""
    return [qa.ask_many([(q, c)], task=t, choices=[ch] if ch else None)[0]
            for q, c, t, ch in asks]


def test_answers_equal_ask_one_by_one_and_batched_concurrently(server: Served,
                                                               model: Path) -> None:
    qa = decaqa.load(str(model))
    want = expected(qa, ASKS)
    alone = [server.post("/ask", body(*a)).json() for a in ASKS]
    assert alone == want
    assert want[1]["task"] == "sst2" and want[2]["task"] == "cnn_dailymail"  # found by question
    batched = server.post("/ask_batch", {"requests": [body(*a) for a in ASKS]}).json()
    assert batched["answers"] == want
    before = server.client.get("/health").json()
    with ThreadPoolExecutor(16) as pool:  # 16 clients at once, tasks mixed
        got = list(pool.map(lambda a: server.post("/ask", body(*a)).json(), ASKS * 4))
    assert got == want * 4
    after = server.client.get("/health").json()
    assert after["answered"] - before["answered"] == len(ASKS) * 4
    assert after["batches"] - before["batches"] < len(ASKS) * 4  # requests shared passes
    assert after["largest_batch"] > 1 and after["pending"] == 0


def test_tasks_health_and_the_openapi_page(server: Served, model: Path) -> None:
    qa = decaqa.load(str(model))
    catalog = server.client.get("/tasks").json()
    assert set(catalog["tasks"]) == set(qa.info.tasks)
    assert catalog["tasks"]["cnn_dailymail"]["cap"] == qa.cap("cnn_dailymail")
    # the smoke run answers every task greedily (the quickstart: four beams for two tasks)
    assert {t: v["beams"] for t, v in catalog["tasks"].items()} == dict.fromkeys(qa.info.tasks, 1)
    assert catalog["default_cap"] == qa.cap(None) and catalog["adapters"] == []
    assert server.client.get("/health").json()["status"] == "ready"
    paths = server.client.get("/openapi.json").json()["paths"]
    assert {"/ask", "/ask_batch", "/tasks", "/health"} <= set(paths)
    assert server.client.get("/docs").status_code == 200


LONG = "word " * 400  # more tokens than the smoke model's max_source_tokens (256)
# (what is sent, status, words the one sentence holds): the README's bad-request table
BAD = [
    (b"not json", 400, "not JSON"),
    (b'{"question": "q", "context": ', 400, "not JSON"),
    ([1, 2], 422, "JSON object"),
    ({"context": "c"}, 422, "'question' is missing"),
    ({"question": "q"}, 422, "'context' is missing"),
    ({"question": " ", "context": "c"}, 422, "'question' is empty"),
    ({"question": "q", "context": ""}, 422, "'context' is empty"),
    ({"question": 3, "context": "c"}, 422, "'question' must be a string, not a number"),
    ({"question": "q", "context": ["c"]}, 422, "'context' must be a string, not a list"),
    ({"question": "q", "context": "c", "task": "nope"}, 422, "Unknown task 'nope'"),
    ({"question": "q", "context": "c", "task": 5}, 422, "'task' must be a string"),
    ({"question": "q", "context": "c", "choices": "yes"}, 422, "'choices' must be a non-empty"),
    ({"question": "q", "context": "c", "choices": []}, 422, "'choices' must be a non-empty"),
    ({"question": "q", "context": "c", "choices": ["a", 1]}, 422, "'choices' must be"),
    ({"question": "q", "context": "c", "choice": ["a"]}, 422, "Unknown field 'choice'"),
    ({"question": "q", "context": "x" * 9000}, 413, "over 8,000 bytes"),
]


@pytest.mark.parametrize("sent,status,words", BAD, ids=[w for _, _, w in BAD])
def test_a_bad_request_is_a_4xx_with_one_sentence(server: Served, sent, status,
                                                  words) -> None:
    r = (server.post("/ask", content=sent) if isinstance(sent, bytes)
         else server.post("/ask", sent))
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words in detail and "Traceback" not in r.text
    assert detail.count(". ") == 0 and detail.endswith((".", ")"))  # one sentence


def test_the_unknown_task_sentence_lists_the_tasks(server: Served) -> None:
    detail = server.post("/ask", body("q", "c", "nope")).json()["detail"]
    assert "sst2" in detail and "cnn_dailymail" in detail


def test_bad_batches_unknown_paths_and_an_over_long_input(server: Served) -> None:
    r = server.post("/ask_batch", {"requests": [body("q", "c"), {"question": "q"}]})
    assert r.status_code == 422 and r.json()["detail"].startswith("Request 1: ")
    for sent in ({"requests": []}, {"asks": [body("q", "c")]}, [body("q", "c")]):
        r = server.post("/ask_batch", sent)
        assert r.status_code == 422 and "requests" in r.json()["detail"]
    assert server.client.get("/nowhere").status_code == 404
    assert "endpoints are" in server.client.get("/nowhere").json()["detail"]
    assert server.client.get("/ask").status_code == 405
    long = server.post("/ask", body("What is the summary?", LONG))
    assert long.status_code == 200 and long.json()["truncated"] is True
    assert server.post("/ask", body(REVIEW, "fine .")).json()["truncated"] is False


def test_the_checks_alone_name_the_request_in_a_batch() -> None:
    with pytest.raises(Refused) as err:
        check_ask({"question": "q", "context": "c", "task": "x"}, {"sst2": {}}, "Request 3: ")
    assert err.value.status == 422 and err.value.sentence.startswith("Request 3: Unknown task")
    assert check_ask({"question": "q", "context": "c"}, {}) == {
        "question": "q", "context": "c", "task": None, "choices": None}


def test_a_client_leaving_mid_batch_breaks_nothing(server: Served) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    payload = json.dumps(body("What is the summary?", "The council met. " * 30)).encode()
    for _ in range(8):  # clients that send a request and hang up before the answer
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda a: server.post("/ask", body(*a)), ASKS))
    assert all(r.status_code == 200 for r in got)
    deadline = time.time() + 60
    while server.client.get("/health").json()["pending"] and time.time() < deadline:
        time.sleep(0.1)
    assert server.client.get("/health").json()["pending"] == 0


def wait_for(served: Served, ready, seconds: float = 60) -> dict[str, Any]:
    """Poll /health until ``ready(health)`` (bounded); the health that was."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        health = served.client.get("/health").json()
        if ready(health):
            return health
        time.sleep(0.005)
    raise AssertionError(f"/health did not reach the state within {seconds:.0f} s: {health}")


def test_full_queue_is_503_and_sigterm_drains(model: Path) -> None:
    # one pass per request, so a batch of 64 holds the queue for 64 passes through the model:
    # what follows does not hang on which of two threads is faster
    served = Served(str(model), "--max-queue", "64", "--max-batch", "1",
                    "--batch-timeout-ms", "0", "--num-beams", "2")
    asks = [body("What is the summary?", f"The council met on day {i}. " * 20)
            for i in range(64)]
    try:  # --num-beams: every task with two beams, as `decaqa.load(..., num_beams=2)` answers
        assert {t["beams"] for t in served.client.get("/tasks").json()["tasks"].values()} == {2}
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(served.post, "/ask_batch", {"requests": asks})
            wait_for(served, lambda h: h["pending"] >= 32)  # accepted, half still unanswered
            # 64 waiting and 64 more asked for: full whichever pass the first batch is at
            full = served.post("/ask_batch", {"requests": asks})
            assert full.status_code == 503, full.text
            assert full.headers["Retry-After"] == "1" and "full" in full.json()["detail"]
            # SIGTERM with requests in flight: they are answered, then the server exits 0
            health = wait_for(served, lambda h: True)
            assert health["pending"] > 0, health
            served.proc.send_signal(signal.SIGTERM)
            answered = held.result(timeout=120)
        assert answered.status_code == 200 and len(answered.json()["answers"]) == 64
        qa = decaqa.load(str(model), num_beams=2)
        assert [a["answer"] for a in answered.json()["answers"]] == \
            [qa.ask(a["question"], a["context"]) for a in asks]
        assert served.proc.wait(60) == 0
        with pytest.raises(httpx.ConnectError):  # gone: new connections are refused
            httpx.post(served.url + "/ask", json=asks[0], timeout=5)
        assert "Traceback" not in served.stderr()
    finally:
        served.stop()


def test_a_wrong_model_path_or_a_busy_port_is_one_sentence(tmp_path: Path, model: Path,
                                                          fails) -> None:
    fails(["serve", str(tmp_path / "nothing")], "does not exist")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        fails(["serve", str(model), "--port", str(busy.getsockname()[1])], "Cannot listen",
              "--port")
    fails(["serve", str(model), "--max-batch", "0"], "--max-batch must be at least 1")
    fails(["serve", str(model), "--num-beams", "0"], "--num-beams = 0: beams are whole numbers of at least 1 (1: greedy).")


@pytest.fixture(scope="module")
def adapters(model: Path, tmp_path_factory) -> Path:
    """LoRA adapters for sst2 and squad over the smoke model, trained a few steps."""
    from decaqa.cli import run

    run_dir = tmp_path_factory.mktemp("serve") / "lora"
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir),
                "--model.model", str(model), "--model.config", "null",
                "--model.adapter", json.dumps({"method": "lora"}),
                "--data.tasks", json.dumps(["sst2", "squad"]), "--trainer.max_steps", "4",
                "--trainer.val_check_interval", "4", "--data.val_limit", "4",
                "--trainer.enable_progress_bar", "false"]) == 0
    return run_dir / "adapters"


def test_with_adapters_each_task_is_answered_by_its_own(model: Path, adapters: Path) -> None:
    qa = decaqa.load(str(model), adapters=str(adapters))
    want = expected(qa, ASKS)
    assert {w["answered_by"] for w in want} == {"adapter sst2", "adapter squad", "base"}
    served = Served(str(model), "--adapters", str(adapters))
    try:
        assert served.client.get("/tasks").json()["adapters"] == ["sst2", "squad"]
        got = served.post("/ask_batch", {"requests": [body(*a) for a in ASKS]}).json()
        assert got["answers"] == want
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda a: served.post("/ask", body(*a)).json(), ASKS)) == want
    finally:
        assert served.stop() == 0
