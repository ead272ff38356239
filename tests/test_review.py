"""The review page's HTTP side (Flask test client) and response.csv: decisions, undo, import, safety."""

import http.client
import socket
import subprocess
import sys
import threading
import urllib.request

import pandas as pd
import pytest

from snakeseg.assl import responses, rounds
from snakeseg.assl.review import TOKEN_HEADER, create_app, serve
from snakeseg.assl.roundfiles import make_round
from snakeseg.errors import InputError
from helpers import REPO


@pytest.fixture
def round_dir(tmp_path):
    path = tmp_path / "round-1"
    make_round(path, n=5, size=32)
    return path


@pytest.fixture
def client(round_dir):
    app = create_app(round_dir)
    client = app.test_client()
    client.token = app.config["REVIEW_TOKEN"]
    return client


def decide(client, item_id, answer, token=None):
    return client.post("/api/decision", json={"id": item_id, "response": answer},
                       headers={TOKEN_HEADER: client.token if token is None else token})


def test_page_embeds_the_token_and_state_comes_from_response_csv(client, round_dir):
    page = client.get("/")
    assert page.status_code == 200 and client.token in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and "nonce-" in page.headers["Content-Security-Policy"]
    state = client.get("/api/state").get_json()
    assert [it["id"] for it in state["items"]] == [f"pool-{k:03d}" for k in range(5)]
    assert state["decisions"] == {} and state["counts"]["pending"] == 5
    (round_dir / "response.csv").write_text("Filename,response\npool-003.png,no\n")
    assert client.get("/api/state").get_json()["decisions"] == {"pool-003": "no"}


def test_each_decision_is_saved_at_once_in_the_validator_format(client, round_dir):
    csv = round_dir / "response.csv"
    r = decide(client, "pool-002", "yes")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert csv.read_text() == "Filename,response\npool-002.png,yes\n"
    assert decide(client, "pool-000", "no").get_json()["counts"] == {
        "total": 5, "reviewed": 2, "accepted": 1, "rejected": 1, "pending": 3}
    assert csv.read_text() == "Filename,response\npool-000.png,no\npool-002.png,yes\n"
    assert decide(client, "pool-000", "yes").get_json()["previous"] == "no"
    assert responses.accepted(round_dir) == ["pool-000", "pool-002"]
    assert responses.counts(round_dir) == (2, 0, 3)
    assert not [p for p in round_dir.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_undo_forgets_or_restores_and_a_new_app_sees_the_saved_state(client, round_dir):
    decide(client, "pool-001", "yes")
    decide(client, "pool-004", "no")
    assert decide(client, "pool-004", None).get_json()["decisions"] == {"pool-001": "yes"}  # undo: forget
    decide(client, "pool-001", "no")
    decide(client, "pool-001", "yes")  # undo of a change: the page sends the previous answer back
    assert (round_dir / "response.csv").read_text() == "Filename,response\npool-001.png,yes\n"
    restarted = create_app(round_dir)  # a killed and restarted server
    assert restarted.test_client().get("/api/state").get_json()["decisions"] == {"pool-001": "yes"}
    assert restarted.config["REVIEW_TOKEN"] != client.token
    assert decide(client, "pool-002", "yes", token=restarted.config["REVIEW_TOKEN"]).status_code == 403


def test_importing_a_response_csv_made_elsewhere(round_dir, tmp_path):
    external = _csv(tmp_path, "Filename,response\r\npool-000.png,yes\r\npool-003.png,No\r\npool-004.png,n\r\n")
    assert responses.import_responses(round_dir, external) == {"pool-000": "yes", "pool-003": "no", "pool-004": "no"}
    (round_dir / "response.csv").write_text("Filename,response\npool-000.png,yes\npool-003.png,no\n")
    assert responses.read_responses(round_dir) == {"pool-000": "yes", "pool-003": "no"}
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "review", str(round_dir), "--responses",
                           str(_csv(tmp_path, "\ufeffFilename,response\npool-003.png,yes\n"))],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0 and "2 accepted, 0 rejected, 3 not yet reviewed" in proc.stdout, proc.stderr
    before = (round_dir / "response.csv").read_text()
    bad = {"name,answer\npool-000.png,yes\n": "line 1",
           "Filename,response\npool-000.png,yes\npool-000,no\n": "line 3",
           "Filename,response\npool-009.png,yes\n": "'pool-009.png' is not <id>.png",
           "Filename,response\n../pool-000.png,yes\n": "line 2",
           "Filename,response\npool-000.png,maybe\n": "neither yes nor no",
           "Filename,response\npool-000,yes\n": "Fix: write pool-000.png",  # the id without its .png
           "Filename,response\nimages/pool-001.png,yes\n": "Fix: write pool-001.png",  # review.csv's source
           "Filename,response\npool-002.jpg,yes\n": "Fix: write pool-002.png",
           "Filename;response\npool-000.png;yes\n": "Fix: separate the columns with commas, not semicolons",
           "Filename,response\npool-000.png,yes\npool-000.png,no\n": "already answered on line 2"}  # last: below
    for text, message in bad.items():
        path = _csv(tmp_path, text)
        with pytest.raises(InputError, match=message) as err:
            responses.import_responses(round_dir, path)
        assert str(path) in str(err.value)
    utf16 = tmp_path / "excel-unicode-text.csv"  # Excel's "Unicode Text" save
    utf16.write_text("Filename\tresponse\npool-000.png\tyes\n", encoding="utf-16")
    with pytest.raises(InputError, match='is not UTF-8 text. Fix: save it as "CSV UTF-8'):
        responses.import_responses(round_dir, utf16)
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "review", str(round_dir), "--responses", str(path)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "line 3" in proc.stderr and str(path) in proc.stderr
    assert (round_dir / "response.csv").read_text() == before  # nothing written by a bad file


def _csv(tmp_path, text):
    path = tmp_path / f"external-{len(list(tmp_path.glob('external-*')))}.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def test_a_pool_image_named_with_spaces_and_brackets_is_reviewed(round_dir):
    review = round_dir / "review.csv"
    review.write_text(review.read_text().replace("pool-001", "wound photo (1)"))
    for kind in ("images", "masks", "overlays"):
        (round_dir / kind / "pool-001.png").rename(round_dir / kind / "wound photo (1).png")
    app = create_app(round_dir)
    client = app.test_client()
    client.token = app.config["REVIEW_TOKEN"]
    assert client.get("/overlay/wound%20photo%20%281%29").status_code == 200
    assert decide(client, "wound photo (1)", "yes").status_code == 200
    assert responses.read_responses(round_dir) == {"wound photo (1)": "yes"}
    review.write_text(review.read_text().replace("wound photo (1)", "../up"))
    with pytest.raises(InputError, match="id '../up' is not a plain file stem"):
        create_app(round_dir)


def test_only_the_rounds_overlays_and_images_are_served_by_id(client, round_dir):
    r = client.get("/overlay/pool-001")
    assert r.status_code == 200 and r.data == (round_dir / "overlays" / "pool-001.png").read_bytes()
    assert client.get("/image/pool-001").data == (round_dir / "images" / "pool-001.png").read_bytes()
    (round_dir / "overlays" / "secret.png").write_bytes(b"x")
    for url in ["/overlay/../review.csv", "/overlay/%2e%2e%2freview.csv", "/overlay/%2E%2E/review.csv",
                "/overlay/..%2F..%2Fetc%2Fpasswd", "/overlay//etc/passwd", "/overlay/%2Fetc%2Fpasswd",
                f"/overlay/{round_dir}/overlays/pool-001.png", "/overlay/pool-001.png", "/overlay/secret",
                "/image/..%5creview.csv", "/image/masks/pool-001", "/masks/pool-001", "/review.csv",
                "/overlay/", "/image/pool-001%00", "/static/../review.csv"]:
        r = client.get(url)
        assert r.status_code == 404, url
        assert b"id,source" not in r.data and b"root:" not in r.data


def test_bad_decision_requests_get_a_4xx_and_change_nothing(client, round_dir):
    decide(client, "pool-000", "yes")
    csv = round_dir / "response.csv"
    before = csv.read_bytes()
    body = {"id": "pool-001", "response": "yes"}
    cases = [(client.post("/api/decision", json=body), 403),
             (decide(client, "pool-001", "yes", token="wrong"), 403),
             (decide(client, "pool-001", "yes", token="\u00e9" + client.token[1:]), 403),
             (client.post("/api/decision", json={**body, "token": client.token}), 403),
             (decide(client, "pool-999", "yes"), 404),
             (decide(client, "../review", "yes"), 404),
             (client.get("/api/decision"), 405),
             (client.put("/api/decision", json=body, headers={TOKEN_HEADER: client.token}), 405),
             (client.post("/api/decision", data="{not json", content_type="application/json",
                          headers={TOKEN_HEADER: client.token}), 400),
             (client.post("/api/decision", data="id=pool-001&response=yes",
                          content_type="application/x-www-form-urlencoded", headers={TOKEN_HEADER: client.token}), 400),
             (client.post("/api/decision", json=["pool-001", "yes"], headers={TOKEN_HEADER: client.token}), 400),
             (client.post("/api/decision", json={"id": "pool-001"}, headers={TOKEN_HEADER: client.token}), 400),
             (decide(client, "pool-001", "maybe"), 400),
             (decide(client, "pool-001", True), 400)]
    for k, (r, status) in enumerate(cases):
        assert r.status_code == status, (k, r.status_code, r.get_json())
        assert r.headers["Cache-Control"] == "no-store" and "error" in r.get_json()
    assert csv.read_bytes() == before
    assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 400  # DNS rebinding
    csv.write_text("Filename,response\nsomething-else.png,yes\n")  # broken by hand while serving
    r = decide(client, "pool-001", "yes")
    assert r.status_code == 500 and "something-else.png" in r.get_json()["error"]


def test_serve_listens_on_loopback_only_by_default(round_dir):
    other = _non_loopback_ipv4()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = []
    thread = threading.Thread(target=serve, args=(round_dir,), kwargs={"port": port, "on_start": started.append},
                              daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if started:
                break
            thread.join(0.05)
        assert started and started[0].host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as r:
            assert r.status == 200
        for raw in ["/overlay/../review.csv", "/overlay/%2e%2e%2freview.csv", "/image/..%2F..%2Fetc%2Fpasswd"]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # sent as is, not normalised
            conn.request("GET", raw)
            assert conn.getresponse().status == 404, raw
            conn.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((other, port), timeout=5).close()
    finally:
        if started:
            started[0].shutdown()
        thread.join(5)


def _non_loopback_ipv4():
    name = socket.gethostbyname(socket.gethostname())
    if not name.startswith("127."):
        return name
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return None
    for line in out.splitlines():
        address = line.split()[3].split("/")[0] if len(line.split()) > 3 else ""
        if address and not address.startswith("127."):
            return address
    return None


def test_the_least_sure_proposals_come_first_and_old_rounds_still_load(tmp_path):
    shard_a = pd.DataFrame({"id": ["b", "a", "c"], "source": ["b.png", "a.png", "c.png"],
                            "foreground_fraction": [0.1, 0.2, 0.0], "components": [1, 2, 0],
                            "expected_dice": [0.95, 0.95, None]})
    shard_b = pd.DataFrame({"id": ["d", "e"], "source": ["d.png", "e.png"], "foreground_fraction": [0.3, 0.1],
                            "components": [3, 1], "expected_dice": [0.61, 0.99]})
    review = rounds.review_rows([shard_a, shard_b], skip={"e"})
    assert list(review["id"]) == ["c", "d", "a", "b"]  # empty mask, then lowest expected Dice; ties by id
    old = pd.DataFrame({"id": ["z", "y"], "source": ["z.png", "y.png"], "foreground_fraction": [0.1, 0.2],
                        "components": [1, 1]})  # a summary made before expected_dice
    assert list(rounds.review_rows([old], skip=set())["id"]) == ["y", "z"]

    # a round folder reviewed before review.csv had expected_dice still opens
    make_round(tmp_path / "round-0", n=3, size=32)
    table = pd.read_csv(tmp_path / "round-0" / "review.csv", dtype=str)
    table.drop(columns="expected_dice").to_csv(tmp_path / "round-0" / "review.csv", index=False)
    items = create_app(tmp_path / "round-0").test_client().get("/api/state").get_json()["items"]
    assert [it["expected_dice"] for it in items] == ["", "", ""]


def test_rounds_go_forward_one_at_a_time_after_each_review(tmp_path):
    results = tmp_path / "results"
    rounds.check_round(results, 0)  # nothing made yet: round 0 starts
    with pytest.raises(InputError, match="no round was made yet. Fix: rounds go one at a time: set assl.round: 0"):
        rounds.check_round(results, 1)
    make_round(results / "assl" / "round-0", n=2, size=16)
    rounds.check_round(results, 0)  # rerunning the round made
    with pytest.raises(InputError, match="round 0 has not been reviewed"):
        rounds.check_round(results, 1)
    (results / "assl" / "round-0" / "response.csv").write_text("Filename,response\npool-000.png,yes\n")
    rounds.check_round(results, 1)
    with pytest.raises(InputError, match="the last round made is 0. Fix: rounds go one at a time: set assl.round: 1"):
        rounds.check_round(results, 2)
    make_round(results / "assl" / "round-1", n=2, size=16)
    (results / "assl" / "round-1.tmp-99").mkdir()  # an atomic write's leftover is not a round
    with pytest.raises(InputError, match="but round 1 was already made .* set assl.round: 1"):
        rounds.check_round(results, 0)  # going back would retrain round 0 and rewrite its reviewed folder
    rounds.check_reviewable(results / "assl" / "round-0")  # round 1 not reviewed: changed answers remake it
    (results / "assl" / "round-1" / "response.csv").write_text("Filename,response\npool-001.png,no\n")
    with pytest.raises(InputError, match="round 1, made from its answers, has been reviewed. Fix: review the latest "
                                         "round, .*round-1, or delete .*round-1/response.csv"):
        rounds.check_reviewable(results / "assl" / "round-0")
    rounds.check_reviewable(results / "assl" / "round-1")
    assert rounds.answered(results, 0) == 1 and rounds.answered(results, 1) == 1


@pytest.mark.parametrize("classes", [["wound"], ["tumour", "stroma", "necrosis"]])
def test_accepted_predictions_are_read_back_with_their_classes(classes):
    import numpy as np

    from snakeseg.data.masks import MaskSpec, normalise
    from snakeseg.inference.predict import mask_png

    labels = np.zeros((8, 8), np.uint8)
    for c in range(1, len(classes) + 1):
        labels[c, :] = c  # a row of each class
    stored = mask_png(labels, len(classes))
    read, _ = normalise(stored, "accepted.png", MaskSpec.from_config(rounds.accepted_masks_spec(classes)))
    assert np.array_equal(read, labels)
