"""The worked example of docs/LEARNING.md, run for real on the **tiny recipe** (a 2-layer random BERT).

``python -m bench.learning.demo [--work runs/learning-demo] [--corrections 200] [--out DIR]``

1. train and export the tiny recipe, register it, promote it (the first model of a registry needs no gate);
2. start ``triage serve`` (2 workers) on that registry, with a feedback database and a post store;
3. agents correct 200 decisions through ``POST /v1/feedback``: real posts of the ``data/real`` train split
   (texts from ``../shared/datasets``) on which the live model got a head wrong; the agent sets the whole
   right decision (the project's labels) and notes what was wrong;
4. ``triage train --from RUN --feedback DB --epochs 10 --lr-scale 1`` makes a candidate (a random 2-layer
   model needs more passes than the planner's default for a trained encoder); ``triage export``; ``models add``;
5. ``triage models compare`` scores both on the real test split and on the held-out corrections;
6. ``triage models promote`` — the running server switches while a client keeps sending requests (every
   answer is counted); ``triage models rollback`` switches it back;
7. ``triage audit`` shows what happened.

Writes ``learning_demo.{json,md}`` (the transcript, with timings) into ``bench/results``. The tiny model's
accuracy means nothing; the point is that every step runs, and the gate and the switch behave.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, machine_info, machine_markdown, md_table, write_results
from bench.common import log as say

TINY = ROOT / "training" / "configs" / "tiny.yaml"
HEADS = ("intent", "sentiment", "urgency")


class Transcript:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.steps: list[dict[str, Any]] = []

    def run(self, title: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        say(f"$ triage {' '.join(args)}")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "triage", *args], capture_output=True, text=True, env=self.env,
                              cwd=ROOT, timeout=1800)
        seconds = time.perf_counter() - start
        out = clean(done.stdout + done.stderr)
        self.steps.append({"title": title, "command": "triage " + " ".join(args), "exit": done.returncode,
                           "seconds": round(seconds, 1), "output": out[-4000:]})
        if check and done.returncode != 0:
            raise SystemExit(f"{title} failed ({done.returncode}):\n{out[-3000:]}")
        return done

    def note(self, title: str, text: str, seconds: float | None = None) -> None:
        self.steps.append({"title": title, "command": None, "exit": 0, "seconds": seconds, "output": text})


def clean(output: str) -> str:
    """The command's output without progress bars and log lines (the results, warnings and errors stay)."""
    noise = ("it/s]", "batch/s]", "%|", " INFO ")
    return "\n".join(line for line in output.splitlines() if line.strip() and not any(n in line for n in noise))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(client: httpx.Client, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server never became ready")


def wrong_posts(client: httpx.Client, n: int) -> list[dict[str, Any]]:
    """Real train-split posts on which the live model gets at least one head wrong, with the right labels."""
    from training.evaluate import read_real_split

    rows = read_real_split("train").rows
    picked = []
    for i in range(0, len(rows), 32):
        chunk = rows[i : i + 32]
        posts = [{"text": r.text, "id": f"real-train-{i + j}", "channel": "review"} for j, r in enumerate(chunk)]
        results = client.post("/v1/triage/batch", json={"posts": posts}).json()["results"]
        for post, row, result in zip(posts, chunk, results, strict=True):
            right = {h: row.labels[h] for h in HEADS if row.labels.get(h)}
            wrong = {h: v for h, v in right.items() if result["labels"][h] != v}
            if wrong:
                picked.append({"post": post, "right": right, "wrong": wrong, "model": result["labels"],
                               "model_version": result["model_version"]})
            if len(picked) == n:
                return picked
    return picked


def correct(client: httpx.Client, picked: list[dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    statuses: Counter[int] = Counter()
    rows = 0
    for i, p in enumerate(picked):
        # The agent sets the whole right decision (the data/real labels); the note says what the model got wrong.
        body: dict[str, Any] = {"post_id": p["post"]["id"], "text": p["post"]["text"], "actor": f"agent-{i % 5 + 1}",
                                "note": "wrong: " + ", ".join(f"{h} ({p['model'][h]})" for h in p["wrong"]),
                                "model_version": p["model_version"], "corrections": {"labels": p["right"]}}
        if i % 10 == 0:
            body["corrections"]["reply"] = {"outcome": "rejected"}
        r = client.post("/v1/feedback", json=body)
        statuses[r.status_code] += 1
        rows += len(r.json().get("corrections", [])) if r.status_code == 201 else 0
    heads = Counter(h for p in picked for h in p["wrong"])
    return {"posts": len(picked), "rows": rows, "statuses": dict(statuses), "by_head": dict(heads),
            "seconds": round(time.perf_counter() - start, 1)}


def switch_under_load(client: httpx.Client, t: Transcript, args: tuple[str, ...], target: str) -> dict[str, Any]:
    """Run a registry command while 2 clients send requests; wait until every worker serves ``target``."""
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as c:
            while not stop.is_set():
                r = c.post("/v1/triage", json={"text": "שבועיים מחכה לחבילה ואף אחד לא עונה"})
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        versions[r.json()["model_version"]] += 1

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for th in threads:
        th.start()
    time.sleep(1.0)
    start = time.perf_counter()
    t.run(f"{args[1]} (while 2 clients send requests)", *args)
    deadline = time.monotonic() + 60
    streak = 0
    while streak < 10 and time.monotonic() < deadline:  # ten answers in a row from the target: both workers
        version = client.post("/v1/triage", json={"text": "thanks"}).json()["model_version"]
        streak = streak + 1 if version == target else 0
        time.sleep(0.1)
    switched = time.perf_counter() - start
    time.sleep(1.0)
    stop.set()
    for th in threads:
        th.join()
    return {"switched_after_seconds": round(switched, 1), "requests": sum(statuses.values()),
            "statuses": dict(statuses), "served_by": dict(versions)}


def prepare(work: Path, t: Transcript, registry: Path) -> str:
    t.run("train the tiny recipe (the base model)", "train", "--config", str(TINY), "--out", str(work / "base"))
    t.run("export it", "export", str(work / "base"), str(work / "base-model"), "--no-test")
    added = t.run("register it", "models", "add", str(work / "base-model"), "--run", str(work / "base"),
                  "--registry", str(registry))
    key = str(json.loads(added.stdout)["model"])
    t.run("promote it (the first model of a registry needs no comparison)", "models", "promote", key,
          "--registry", str(registry))
    return key


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "learning-demo")
    ap.add_argument("--corrections", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    registry, fb, store = work / "registry", f"sqlite:///{work / 'feedback.db'}", f"sqlite:///{work / 'store.db'}"
    env = {**os.environ, "TRIAGE_REGISTRY": str(registry), "TRIAGE_DATABASE_URL": fb, "TRIAGE_STORE_URL": store,
           "TRIAGE_REGISTRY_POLL_S": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    t = Transcript(env)
    base = prepare(work, t, registry)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "triage", "serve", "--port", str(port), "--workers", "2"],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=open(work / "server.log", "w"))  # noqa: SIM115
    try:
        result = _loop(t, work, registry, fb, base, port)
    finally:
        server.terminate()
        server.wait(30)
    t.run("the audit log", "audit", "--url", store)
    header = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": "python -m bench.learning.demo",
              "machine": machine_info(), "git": {"commit": "(the commit that adds this file)"}, "model": None}
    data = {"header": header, **result, "steps": t.steps}
    write_results("learning_demo", data, markdown(data, header), args.out)
    return data


def _loop(t: Transcript, work: Path, registry: Path, fb: str, base: str, port: int) -> dict[str, Any]:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    wait_ready(client)
    picked = wrong_posts(client, 200)
    corrections = correct(client, picked)
    t.note("agents correct decisions through POST /v1/feedback", json.dumps(corrections), corrections["seconds"])
    page = client.get("/v1/feedback", params={"limit": 3}).json()
    t.note("GET /v1/feedback?limit=3", json.dumps(page, ensure_ascii=False)[:1500])
    # A random 2-layer model needs more passes than the planner's 3 at half rate (made for a trained encoder).
    t.run("warm start: the base model + the corrections + replay", "train", "--from", str(work / "base"),
          "--feedback", fb, "--out", str(work / "candidate"), "--epochs", "10", "--lr-scale", "1.0")
    t.run("export the candidate", "export", str(work / "candidate"), str(work / "candidate-model"), "--no-test")
    added = t.run("register it (with its run: a 'trained' audit entry)", "models", "add", str(work / "candidate-model"),
                  "--run", str(work / "candidate"))
    candidate = json.loads(added.stdout)["model"]
    refused = t.run("promote before comparing: refused", "models", "promote", candidate, check=False)
    compared = t.run("compare candidate and live model", "models", "compare", candidate, "--feedback", fb, check=False)
    out: dict[str, Any] = {"base": base, "candidate": candidate, "corrections": corrections,
                           "refused_without_compare": refused.returncode != 0,
                           "compare_passed": compared.returncode == 0}
    if compared.returncode != 0:
        return out
    out["promote"] = switch_under_load(client, t, ("models", "promote", candidate), candidate)
    t.note("the server switched", json.dumps(out["promote"]))
    out["models"] = client.get("/v1/models").json()
    out["rollback"] = switch_under_load(client, t, ("models", "rollback", "--reason", "demo: back to the base"), base)
    t.note("the server switched back", json.dumps(out["rollback"]))
    return out


def markdown(data: dict[str, Any], header: dict[str, Any]) -> str:
    parts = ["# The learning loop, end to end (tiny recipe)",
             "**The tiny recipe**: a 2-layer randomly initialised BERT trained on 48 corpus posts, so that every "
             "step runs in seconds on 2 CPU cores. Its accuracy means nothing; the steps, the gate and the switch "
             "are what this shows. The commands for the real model are in docs/LEARNING.md.",
             md_table(["step", "command", "exit", "seconds"],
                      [[s["title"], f"`{s['command']}`" if s["command"] else "(HTTP)", s["exit"], s["seconds"]]
                       for s in data["steps"]])]
    for s in data["steps"]:
        parts += [f"### {s['title']}", "```text\n" + (f"$ {s['command']}\n" if s["command"] else "")
                  + clean(s["output"]).strip() + "\n```"]
    parts += ["## Where and what", machine_markdown({**header, "model": None})]
    return "\n\n".join(parts).replace(str(ROOT) + "/", "")  # paths relative to the project folder


def rerender(out: Path = ROOT / "bench" / "results") -> None:
    """Rewrite learning_demo.md from learning_demo.json (after a change of the report only)."""
    data = json.loads((out / "learning_demo.json").read_text(encoding="utf-8"))
    (out / "learning_demo.md").write_text(markdown(data, data["header"]).rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
