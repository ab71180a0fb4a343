"""Our modules, loading the reference's own `.model` files, reproduce the reference's outputs.

Fixtures come from scripts/make_parity_fixtures.py, which runs PyPI whisperspeech==0.8.9 in its own
virtualenv (random weights, small configs, published lengths and vocabularies)."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from whisperspeech.checkpoints import load_model
from whisperspeech.languages import lang_id, text_tokens
from whisperspeech.s2a import s2a_generate
from whisperspeech.t2s import t2s_generate
from whisperspeech.vq import encode_audio

FIX = Path(__file__).parent / "fixtures" / "parity"


@pytest.fixture(scope="module")
def ref():
    sums = json.loads((FIX / "SHA256SUMS.json").read_text())
    for name, digest in sums.items():
        assert hashlib.sha256((FIX / name).read_bytes()).hexdigest() == digest, f"{name} changed; rerun the script"
    return torch.load(FIX / "reference-outputs.pt", weights_only=True)


def test_t2s_logits_and_greedy_tokens(ref):
    model = load_model(FIX / "t2s-ref.model", kind="t2s")
    assert model.config.stoks_codes == 513 and model.config.ttoks_len == 550
    for case in ref["t2s"]:
        toks, lang = text_tokens(case["text"]), torch.tensor([lang_id(case["lang"])])
        with torch.no_grad():
            logits = model(model.text_batch([toks]), lang, torch.tensor([case["cps"]]), case["in_stoks"])
        assert (logits - case["logits"]).abs().max() <= 1e-4
        greedy = t2s_generate(model, [toks], lang_id(case["lang"]), case["cps"], temperature=0, max_tokens=39)[0]
        assert torch.equal(greedy, case["greedy"]), case["text"]


@pytest.mark.parametrize("name", ["s2a", "s2a-cond"])
def test_s2a_logits_and_greedy_tokens(ref, name):
    model = load_model(FIX / f"{name}-ref.model", kind="s2a")
    case = ref[name]
    assert model.config.conditioned == (name == "s2a-cond")
    langs = torch.tensor([lang_id("pl")]) if model.config.conditioned else None
    with torch.no_grad():
        logits = model(model.stoks_batch([case["stoks"]]), case["speaker"][None], case["atoks"], langs)
    assert (logits - case["logits"]).abs().max() <= 1e-4
    greedy = s2a_generate(model, [case["stoks"]], case["speaker"][None], temperature=0)[0]
    assert greedy.shape == (4, 3 * 20 - 4)
    assert torch.equal(greedy, case["greedy"][0])


def test_semantic_tokenizer_tokens(ref, tiny_en):
    model = load_model(FIX / "vq-ref.model", kind="vq")
    model._whisper[0] = tiny_en
    stoks = encode_audio(model, ref["vq"]["audio"])
    assert torch.equal(stoks, ref["vq"]["stoks"])


def test_batched_decoding_matches_one_at_a_time(ref):
    "Batching pads nothing the models can see: each sequence decodes as it would alone."
    t2s = load_model(FIX / "t2s-ref.model")
    texts = [text_tokens(c["text"]) for c in ref["t2s"]]
    together = t2s_generate(t2s, texts, 0, 12.0, temperature=0, max_tokens=30)
    alone = [t2s_generate(t2s, [t], 0, 12.0, temperature=0, max_tokens=30)[0] for t in texts]
    assert all(torch.equal(a, b) for a, b in zip(together, alone))
    s2a = load_model(FIX / "s2a-ref.model")
    stoks = [ref["s2a"]["stoks"], ref["s2a"]["stoks"][:9]]
    spk = ref["s2a"]["speaker"][None]
    together = s2a_generate(s2a, stoks, spk, temperature=0)
    alone = [s2a_generate(s2a, [s], spk, temperature=0)[0] for s in stoks]
    assert all(torch.equal(a, b) for a, b in zip(together, alone))
