"""Shared fixtures: a private cache dir per test session and one offline Whisper tiny.en."""
import os

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
def tiny_en(private_cache):
    from whisperspeech.whisper_models import load_whisper
    return load_whisper("tiny.en")
