"""Shared fixtures: a private cache dir per test session and one offline Whisper tiny.en."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    "Convert models into a fresh cache so the tests exercise the conversion, not a leftover file."
    path = tmp_path_factory.mktemp("whisperspeech-cache")
    os.environ["WHISPERSPEECH_CACHE"] = str(path)
    yield path


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def micro_codec(tmp_path_factory):
    "A random codec with 4 x 1024 codebooks: the prepared corpus's EnCodec codes index into it."
    from whisperspeech.checkpoints import save_model
    from whisperspeech.codec import Codec
    from whisperspeech.training import preset
    from whisperspeech.vocoder import randomize_codebooks

    torch.manual_seed(0)
    codec = Codec(preset("codec", "micro", bins=1024))
    randomize_codebooks(codec)
    return save_model(codec, tmp_path_factory.mktemp("codec") / "codec.model")


@pytest.fixture(scope="session")
def tiny_en(private_cache):
    from whisperspeech.whisper_models import load_whisper

    return load_whisper("tiny.en")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, private_cache):
    "A 20-utterance corpus (en/de/pl) through every stage; a random semantic tokenizer and EnCodec stand in."
    from whisperspeech.checkpoints import save_model
    from whisperspeech.corpus import CorpusSpec, build_corpus
    from whisperspeech.stages import STAGES, run_stage
    from whisperspeech.training import PRESETS
    from whisperspeech.vq import SemanticTokenizer

    root = tmp_path_factory.mktemp("prepared")
    torch.manual_seed(0)
    vq = save_model(SemanticTokenizer(PRESETS["vq"]["tiny.en"]), root / "vq.model")
    build_corpus(
        root / "corpus",
        CorpusSpec({"en": 0.7, "de": 0.15, "pl": 0.15}, seed=5, shard_size=5),
        utterances=20,
        progress=False,
    )
    steps = [
        ("segment", {}),
        ("transcribe", {}),
        ("atoks", dict(random_weights_ok=True)),
        ("wenc", {}),
        ("stoks", dict(model=str(vq))),
        ("spk", {}),
    ]
    out, src, summaries = {"corpus": root / "corpus", "vq": vq}, root / "corpus", {}
    for name, options in steps:
        summaries[name] = run_stage(name, STAGES[name], src, root / name, options, workers=2, progress=False)
        out[name] = src = root / name
    out["summaries"] = summaries
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    "A bundle of micro random-weight models (T2S, S2A, codec) with two named voices: every surface runs on it, fast."
    from bundles import random_bundle

    return random_bundle(tmp_path_factory.mktemp("bundle"), "micro")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serving():
    "Run a `whisperspeech` subcommand that serves on a port; yields (base url, first answer of `path`); stops it after."
    import httpx

    @contextmanager
    def run(*args, path="/"):
        port = free_port()
        cmd = [str(Path(sys.executable).parent / "whisperspeech"), *args, "--port", str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(900):
                try:
                    first = httpx.get(url + path, timeout=1)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stdout.read()
                    time.sleep(0.1)
            yield url, first
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    return run
