"""The HTTP server over loopback: the official OpenAI client, streaming, voice uploads, limits, batching, fuzzing."""

import dataclasses
import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from whisperspeech.pipeline import Pipeline
from whisperspeech.server import ServerConfig, create_app
from whisperspeech.system_voices import speak_system


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pipe(tiny_bundle):
    return Pipeline(model=tiny_bundle, quiet=True)


def start(app):
    "Serve `app` with uvicorn on a free loopback port in a thread; returns (base url, server)."
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    return f"http://127.0.0.1:{port}", server


@pytest.fixture(scope="module")
def server(pipe, tmp_path_factory):
    data = tmp_path_factory.mktemp("server-data")
    app = create_app(ServerConfig(data_dir=data, max_chars=300, max_upload_bytes=2_000_000), pipe)
    url, srv = start(app)
    yield url, app, data
    srv.should_exit = True


def test_openai_client_gets_playable_audio(server):
    from openai import OpenAI

    url, _, _ = server
    client = OpenAI(base_url=f"{url}/v1", api_key="not-needed")
    wav = client.audio.speech.create(
        model="tts-1", voice="flite:rms", input="Hello from the server.", response_format="wav"
    )
    audio, sr = sf.read(io.BytesIO(wav.content))
    assert sr == 24000 and len(audio) > 0.5 * sr and np.abs(audio).max() > 0
    mp3 = client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello again."
    )  # OpenAI's defaults: mp3, alloy
    audio, sr = sf.read(io.BytesIO(mp3.content))
    assert sr == 24000 and len(audio) > 0.5 * sr
    pcm = client.audio.speech.create(model="tts-1", voice="echo", input="Raw samples.", response_format="pcm")
    assert len(pcm.content) % 2 == 0 and len(pcm.content) > 24000


def test_speed_scales_the_voice_s_own_rate(server, pipe):
    url, _, _ = server
    text, own = "The rate follows the voice.", pipe.rates["flite:rms"]
    assert own != 15  # else this would not tell the voice's rate from the default
    for speed in (1.0, 2.0):
        body = dict(model="tts-1", voice="flite:rms", input=text, response_format="wav", seed=4, speed=speed)
        audio, _ = sf.read(io.BytesIO(httpx.post(f"{url}/v1/audio/speech", json=body, timeout=300).content))
        want = pipe.generate(text, speaker="flite:rms", seed=4, cps=own * speed).numpy()
        assert len(audio) == len(want) and np.abs(audio - want).max() < 1e-3, speed


def test_streamed_speech_arrives_in_pieces(server):
    url, _, _ = server
    body = dict(
        model="tts-1",
        voice="flite:slt",
        input="One sentence here. And another one there.",
        response_format="wav",
        stream=True,
        seed=2,
    )
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        chunks = [c for c in r.iter_raw()]
    data = b"".join(chunks)
    assert len(chunks) > 2 and data[:4] == b"RIFF"
    whole = httpx.post(f"{url}/v1/audio/speech", json={**body, "stream": False, "response_format": "pcm"}, timeout=120)
    assert whole.status_code == 200 and abs(len(data) - 44 - len(whole.content)) <= 4  # the same samples, streamed


def test_register_and_use_a_voice(server):
    url, _, data = server
    buf = io.BytesIO()
    sf.write(
        buf,
        speak_system("We should take the long road home and stop by the river.", "flite:awb", sr=16000).numpy(),
        16000,
        format="WAV",
    )
    r = httpx.post(f"{url}/v1/voices", data={"name": "awb-clone"}, files={"file": ("../../x.wav", buf.getvalue())})
    assert r.status_code == 201, r.text
    names = {v["name"]: v["kind"] for v in httpx.get(f"{url}/v1/voices").json()["voices"]}
    assert names["awb-clone"] == "registered" and names["flite:slt"] == "builtin"
    stored = list((data / "voices").glob("*.wav"))
    assert len(stored) == 1 and len(stored[0].stem) == 32  # a generated name, not the client's
    r = httpx.post(
        f"{url}/v1/audio/speech",
        json=dict(model="tts-1", voice="awb-clone", input="Cloned.", response_format="flac"),
        timeout=120,
    )
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac"
    r = httpx.post(f"{url}/v1/voices", data={"name": "awb-clone"}, files={"file": ("a.wav", buf.getvalue())})
    assert r.status_code == 409


@pytest.mark.parametrize(
    "name,payload,status",
    [
        ("../../etc/passwd", "speech", 422),  # path traversal in the name
        ("ok-name", "text", 422),  # not audio
        ("ok-name", "short", 422),  # 0.2 s
        ("ok-name", "huge", 413),  # over the upload limit
    ],
)
def test_bad_uploads_are_refused(server, name, payload, status):
    url, _, data = server
    before = set((data / "voices").iterdir())
    speech = speak_system("We should take the long road home.", "flite:awb", sr=16000).numpy()
    files = {
        "speech": speech,
        "short": speech[:3200],
        "huge": np.random.default_rng(0).uniform(-1, 1, 1_200_000),
        "text": None,
    }
    if payload == "text":
        content = b"this is not audio at all"
    else:
        buf = io.BytesIO()
        sf.write(buf, files[payload], 16000, format="WAV")
        content = buf.getvalue()
    r = httpx.post(f"{url}/v1/voices", data={"name": name}, files={"file": ("v.wav", content)})
    assert r.status_code == status, r.text
    assert "message" in r.json()["error"]
    assert set((data / "voices").iterdir()) == before  # nothing written


@pytest.mark.parametrize(
    "change,status",
    [
        (dict(input="x" * 301), 413),
        (dict(voice="nobody"), 404),
        (dict(speed=5.0), 422),
        (dict(input=""), 422),
        (dict(response_format="aac"), 422),
        (dict(input="bell\x07"), 422),
        (dict(lang="xx"), 422),
        (dict(voice={"id": "nobody"}), 404),
    ],
)
def test_bad_requests_get_json_errors(server, change, status):
    url, _, _ = server
    r = httpx.post(
        f"{url}/v1/audio/speech", json={**dict(model="tts-1", input="Hi.", voice="alloy"), **change}, timeout=60
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_health_and_openapi(server):
    url, _, _ = server
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/audio/speech", "/v1/voices", "/health"} <= set(spec["paths"])


def test_concurrent_requests_are_batched_and_a_full_queue_answers_503(pipe, tmp_path):
    app = create_app(ServerConfig(data_dir=tmp_path, max_batch=4, max_queue=3), pipe)
    url, srv = start(app)
    try:
        body = lambda i: dict(
            model="tts-1", voice="alloy", input=f"Request number {i} is here.", response_format="pcm", seed=i
        )
        with ThreadPoolExecutor(12) as pool:
            codes = list(
                pool.map(
                    lambda i: httpx.post(f"{url}/v1/audio/speech", json=body(i), timeout=300).status_code, range(12)
                )
            )
        assert 503 in codes and 200 in codes and set(codes) <= {200, 503}
        assert app.state.engine.largest_batch > 1
        # a request batched with others gets the audio it gets alone
        alone = httpx.post(f"{url}/v1/audio/speech", json=body(0), timeout=300)
        with ThreadPoolExecutor(3) as pool:
            batched = list(
                pool.map(lambda i: httpx.post(f"{url}/v1/audio/speech", json=body(i), timeout=300), range(3))
            )
        assert batched[0].content == alone.content
    finally:
        srv.should_exit = True


def test_fuzzing_the_openapi_spec_finds_no_server_errors(pipe, tmp_path):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    app = create_app(ServerConfig(data_dir=tmp_path, max_chars=40, max_upload_bytes=200_000), pipe)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, statuses = [], []

    for op in schema.get_all_operations():
        operation = op.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call()
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append((case.method, case.path, response.status_code, response.text[:200]))

        check()
    print("fuzzed", len(statuses), "requests; statuses", sorted(set(statuses)))
    assert not failures, failures[:5]
    assert len(statuses) >= 50 and {200, 422} <= set(statuses)


def test_the_serve_command_answers_on_loopback(tiny_bundle, tmp_path, serving):
    with serving(
        "serve", "--model", str(tiny_bundle), "--data-dir", str(tmp_path / "data"), "--int8", path="/health"
    ) as (url, health):
        assert (
            health.json()["status"] == "ok"
            and health.json()["model"] == f"the model bundle {tiny_bundle}, int8 weights"
        )
        r = httpx.post(
            f"{url}/v1/audio/speech",
            json=dict(model="tts-1", input="Hi.", voice="alloy", response_format="wav"),
            timeout=120,
        )
        assert r.status_code == 200 and r.content[:4] == b"RIFF"


def test_register_a_voice_tuned_on_its_recording(server, tmp_path):
    """`POST /v1/voices` with `tune_steps` tunes the parallel S2A on the recording once and keeps the copy beside it:
    the voice speaks through it, after a restart too; a model that cannot be tuned says so and keeps nothing."""
    from bundles import random_bundle

    buf = io.BytesIO()
    speech = speak_system("We should take the long road home and stop by the river.", "espeak-ng:en+f3", sr=16000)
    sf.write(buf, speech.numpy(), 16000, format="WAV")
    upload = lambda url, name, steps: httpx.post(
        f"{url}/v1/voices",
        data={"name": name, "tune_steps": steps},
        files={"file": ("f3.wav", buf.getvalue())},
        timeout=120,
    )
    url, _, data = server  # an autoregressive S2A: nothing to tune
    before = set((data / "voices").iterdir())
    r = upload(url, "f3-tuned", "5")
    assert r.status_code == 422 and "cannot tune on this recording" in r.json()["error"]["message"]
    assert set((data / "voices").iterdir()) == before

    folder = random_bundle(tmp_path / "bundle", "micro", s2a="s2a-parallel", tokenizer=True)
    pipe = Pipeline(model=folder, quiet=True)
    config = ServerConfig(data_dir=tmp_path / "data", max_tune_steps=50)
    body = dict(model="tts-1", input="Cloned and tuned.", response_format="pcm", seed=0)
    say = lambda url, voice: httpx.post(f"{url}/v1/audio/speech", json={**body, "voice": voice}, timeout=120)
    url, srv = start(create_app(config, pipe))
    try:
        assert upload(url, "f3", "51").status_code == 422  # over the server's limit
        r = upload(url, "f3", "30")
        assert r.status_code == 201 and r.json()["tuned"], r.text
        assert upload(url, "f3-plain", "0").json()["tuned"] is False
        listed = {v["name"]: v.get("tuned") for v in httpx.get(f"{url}/v1/voices").json()["voices"]}
        assert listed["f3"] is True and listed["f3-plain"] is False
        tuned, plain = say(url, "f3"), say(url, "f3-plain")
        assert tuned.status_code == plain.status_code == 200 and tuned.content != plain.content
    finally:
        srv.should_exit = True
    app = create_app(dataclasses.replace(config, max_tuned_voices=1), pipe)
    url, srv = start(app)  # a restart reads the tuned copy from disk
    try:
        assert say(url, "f3").content == tuned.content
        assert upload(url, "f3-again", "5").status_code == 201
        assert say(url, "f3-again").status_code == 200 and list(app.state.tuned_voices) == ["f3-again"]
        assert say(url, "f3").content == tuned.content  # read again once the other took its place
        assert list(app.state.tuned_voices) == ["f3"]
    finally:
        srv.should_exit = True
