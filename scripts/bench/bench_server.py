"""Load test of `whisperspeech serve` over loopback: N concurrent clients post speech requests for a
while; prints latency percentiles, throughput and the status codes seen (exit status 1 on any 5xx
other than the 503s of a full queue... none are expected with the default queue).

    .venv/bin/python scripts/bench/bench_server.py                     # 16 clients, 60 s, random-weight tiny models
    .venv/bin/python scripts/bench/bench_server.py --model embedded --compare-unbatched

With the default random-weight models, each sentence's semantic tokens are cut at its natural length
(characters / cps x 25 per second), where a trained T2S stops; random weights never stop on their own."""

import argparse
import collections
import socket
import sys
import tempfile
from pathlib import Path
import threading
import time

import httpx
import torch

SENTENCES = [
    "Turn left at the bakery and walk two blocks.",
    "The soup needs more salt.",
    "Could you pass me the scissors?",
    "Our train was delayed by forty minutes.",
    "The puppy chewed through my shoelaces.",
    "We planted an oak tree.",
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_load(pipe, clients: int, seconds: float, max_batch: int, data_dir: str) -> dict:
    import uvicorn
    from whisperspeech.server import ServerConfig, create_app

    app = create_app(ServerConfig(data_dir=data_dir, max_batch=max_batch, max_queue=max(32, clients)), pipe)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/v1/audio/speech"
    results, lock, stop = [], threading.Lock(), time.monotonic() + seconds

    def client(i):
        with httpx.Client(timeout=600) as c:
            k = 0
            while time.monotonic() < stop:
                body = dict(
                    model="tts-1",
                    voice="alloy",
                    input=SENTENCES[(i + k) % len(SENTENCES)],
                    response_format="pcm",
                    seed=k,
                )
                t0 = time.monotonic()
                r = c.post(url, json=body)
                with lock:
                    results.append((r.status_code, time.monotonic() - t0, len(r.content) / 2 / 24000))
                k += 1

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    server.should_exit = True
    ok = [r for r in results if r[0] == 200]
    lat = sorted(r[1] for r in ok)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    return dict(
        requests=len(results),
        ok=len(ok),
        statuses=dict(collections.Counter(r[0] for r in results)),
        p50=q(0.5),
        p95=q(0.95),
        req_per_s=len(ok) / elapsed,
        audio_s_per_s=sum(r[2] for r in ok) / elapsed,
        largest_batch=app.state.engine.largest_batch,
        elapsed=elapsed,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a bundle folder or 'embedded' (default: random-weight tiny models)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--compare-unbatched", action="store_true", help="also run with --max-batch 1 and print the ratio")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from bundles import random_bundle  # untrained models: the tests' helper
    from whisperspeech.pipeline import Pipeline

    model = args.model or random_bundle(tempfile.mkdtemp(prefix="load-"), "tiny")
    pipe = Pipeline(model=model, quiet=True)
    if not args.model:
        import whisperspeech.pipeline as pl

        pl._token_limit = lambda chunk, cps: int(len(chunk.encode()) / cps * 25)
    runs = [("batched", args.max_batch)] + ([("unbatched", 1)] if args.compare_unbatched else [])
    out = {}
    for name, mb in runs:
        r = out[name] = run_load(pipe, args.clients, args.seconds, mb, tempfile.mkdtemp(prefix="load-data-"))
        print(
            f"{name} (max batch {mb}): {args.clients} clients for {r['elapsed']:.0f} s: {r['requests']} requests, "
            f"statuses {r['statuses']}; latency p50 {r['p50']:.2f} s, p95 {r['p95']:.2f} s; {r['req_per_s']:.2f} requests/s, "
            f"{r['audio_s_per_s']:.2f} s of audio per second; largest batch {r['largest_batch']}",
            flush=True,
        )
    if "unbatched" in out:
        print(f"batching: {out['batched']['req_per_s'] / out['unbatched']['req_per_s']:.2f}x the throughput")
    server_errors = sum(n for r in out.values() for s, n in r["statuses"].items() if s >= 500)
    print(f"model: {pipe.description}; 5xx responses: {server_errors}")
    return 1 if server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
