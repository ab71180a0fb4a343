"""The embedded voice's trained models, as shipped (whisperspeech/voice/): each checked on held-out speech."""

import math
from pathlib import Path

import pytest
import torch

from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.audio import resample
from whisperspeech.bundle import EMBEDDED, embedded_available
from whisperspeech.checkpoints import load_model
from whisperspeech.speaker import speaker_embedding
from whisperspeech.system_voices import speak_system

# the embedded voice's autoregressive S2A until its parallel one replaced it: what the autoregressive research tools
# (scripts/research/s2a_codebook_oracle.py, eval_s2a.py's per-codebook measures) are checked on
AUTOREGRESSIVE_S2A = Path(__file__).parent / "fixtures" / "s2a-autoregressive-embedded.model"

HELD_OUT = [
    "The library on Maple Street closes early on Sundays.",
    "Our teacher read us a story about a fox who learned to swim.",
    "The mechanic said the brakes should be replaced next month.",
]


@pytest.mark.skipif(not (EMBEDDED / "codec.model").exists(), reason="the embedded codec is not in this checkout")
def test_embedded_codec_keeps_words_and_voice(tiny_en):
    codec = load_model(EMBEDDED / "codec.model", kind="codec")
    assert sum(p.numel() for p in codec.parameters()) < 6e6
    heard, sims = [], []
    for text in HELD_OUT:
        wav = speak_system(text, "festival:slt-hts", sr=24000)
        with torch.no_grad():
            rec = codec.decode(codec.encode(wav[None]))[0, : wav.shape[0]]
        heard.append(transcribe(tiny_en, resample(rec, 24000, 16000)))
        a, b = (speaker_embedding(resample(x, 24000, 16000), "resemblyzer") for x in (wav, rec))
        sims.append(float(torch.nn.functional.cosine_similarity(a, b, dim=0)))
    wer = word_error_rate(HELD_OUT, heard)
    print("codec reconstruction:", heard, f"WER {wer:.3f}", [round(s, 3) for s in sims])
    assert wer <= 0.15 and min(sims) >= 0.85


TOKENS = EMBEDDED.parent.parent / "datasets" / "voice-tokens"
SCRIPTS = EMBEDDED.parent.parent / "scripts"


@pytest.mark.skipif(not (TOKENS / "MANIFEST.json").exists(), reason="no committed training tokens in this checkout")
def test_committed_training_tokens_match_the_shipped_models():
    "The T2S/S2A training tokens were made with the tokenizer and codec shipped beside them, and make batches."
    import subprocess
    import sys
    import webdataset as wds
    from whisperspeech.stages import expand_shards
    from whisperspeech.training import batch_maker, preset

    r = subprocess.run(
        [sys.executable, str(SCRIPTS / "voice_tokens.py"), "check", str(TOKENS)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    samples = [
        s
        for _, s in zip(
            range(8), wds.WebDataset(str(expand_shards(str(TOKENS / "*/*.tar.gz"))[0]), shardshuffle=False).decode()
        )
    ]
    # 512 codes + the mask code (the tokenizer gives silent frames the code of "no audio")
    assert (
        max(int(s["stoks.npy"].max()) for s in samples) <= 512
        and max(int(s["atoks.npy"].max()) for s in samples) < 1024
    )
    t2s, s2a = (batch_maker(kind, preset(kind, "compact"))(samples) for kind in ("t2s", "s2a"))
    assert t2s["out_stoks"].shape[0] == 8 and s2a["speakers"].shape == (8, 256) and (s2a["out_atoks"] >= 0).any()


def test_token_manifest_knows_the_codec_by_what_makes_its_codes(monkeypatch, tmp_path):
    """scripts/voice_tokens.py: a codec whose decoder alone changed (`train codec --decoder-only`) keeps the committed
    tokens valid; a change to its encoder or codebooks does not."""
    from whisperspeech.checkpoints import save_model

    monkeypatch.syspath_prepend(str(SCRIPTS))
    from voice_tokens import codes_sha256

    shipped = EMBEDDED / "codec.model"
    codec = load_model(shipped, kind="codec")
    with torch.no_grad():
        codec.head.out.bias.add_(0.5)
    save_model(codec, tmp_path / "decoder.model")
    with torch.no_grad():
        codec.encoder.embed.bias.add_(0.5)
    save_model(codec, tmp_path / "encoder.model")
    assert codes_sha256(tmp_path / "decoder.model") == codes_sha256(shipped)
    assert codes_sha256(tmp_path / "encoder.model") != codes_sha256(shipped)


@pytest.mark.skipif(not (TOKENS / "MANIFEST.json").exists(), reason="no committed training tokens in this checkout")
def test_validation_and_evaluation_sentences_are_in_no_training_text():
    "The fixed validation sentences and the evaluation sentences (plain and hard): distinct, and spoken by no training shard."
    from whisperspeech.corpus import spoken_sentences
    from whisperspeech.evaluate import read_sentences

    validation, evaluation, hard = (
        read_sentences(TOKENS.parent / name)
        for name in ("validation_sentences_en.txt", "eval_sentences_en.txt", "hard_sentences_en.txt")
    )
    spoken = spoken_sentences(str(TOKENS / "*/*.tar.gz"))
    assert len(spoken) > 20000 and len(set(validation)) == len(validation) == 32 and len(set(hard)) == len(hard) >= 20
    assert not (set(validation) | set(evaluation) | set(hard)) & spoken
    assert not set(validation) & set(evaluation) and not set(hard) & (set(validation) | set(evaluation))


def test_loss_logs_of_a_resumed_run_merge_without_duplicates(tmp_path):
    "scripts/merge_metrics.py: a resumed version's repeated steps replace the stopped one's; committed rows stay."
    import csv
    import subprocess
    import sys

    run = tmp_path / "run"
    for v, steps in ((0, range(19, 200, 20)), (1, range(119, 300, 20))):  # v1 resumed from the step-100 checkpoint
        (run / "logs" / f"version_{v}").mkdir(parents=True)
        rows = "".join(f"0,{v + s / 1000},{s}\n" for s in steps)
        (run / "logs" / f"version_{v}" / "metrics.csv").write_text("epoch,loss,step\n" + rows + "0,,299\n")
    out = tmp_path / "metrics.csv"
    out.write_text("epoch,loss,step\n0,9.0,0\n0,9.9,19\n")  # committed before: step 0 stays, step 19 is replaced
    script = SCRIPTS / "merge_metrics.py"
    r = subprocess.run([sys.executable, str(script), str(run), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert [int(x["step"]) for x in rows] == [0, *range(19, 300, 20)]
    loss = {int(x["step"]): float(x["loss"]) for x in rows}
    assert loss[0] == 9.0 and loss[19] == 0.019 and loss[99] == 0.099 and loss[119] == 1.119 and loss[179] == 1.179
    # a run continued from a committed export's schedule logs from 0: its rows go after the export's step
    import torch

    cont = tmp_path / "continued"
    (cont / "logs" / "version_0").mkdir(parents=True)
    (cont / "logs" / "version_0" / "metrics.csv").write_text("epoch,loss,step\n0,5.0,19\n0,5.1,39\n")
    (cont / "checkpoints").mkdir()
    torch.save({"whisperspeech": {"start_step": 300}, "global_step": 40}, cont / "checkpoints" / "last.ckpt")
    r = subprocess.run([sys.executable, str(script), str(cont), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert [int(x["step"]) for x in rows] == [0, *range(19, 300, 20), 319, 339] and rows[-1]["loss"] == "5.1"


def test_make_voice_bundle_writes_models_voices_and_only_the_temperatures_given(tmp_path):
    "scripts/make_voice_bundle.py: float16 models (S2A with the guidance asked), one normalized mean embedding per voice, sampling.json as asked."
    import json
    import subprocess
    import sys
    import numpy as np
    import webdataset as wds
    from whisperspeech.bundle import load_bundle, load_voices
    from whisperspeech.checkpoints import load_model, save_model, trained_steps
    from whisperspeech.codec import Codec
    from whisperspeech.s2a import S2A
    from whisperspeech.stages import npy_bytes
    from whisperspeech.t2s import T2S
    from whisperspeech.training import preset

    torch.manual_seed(0)
    models = {k: tmp_path / f"src-{k}.model" for k in ("t2s", "s2a", "codec")}
    for kind, cls in (("t2s", T2S), ("s2a", S2A), ("codec", Codec)):
        extra = dict(uncond_rate=0.1) if kind == "s2a" else {}  # trained for guidance
        save_model(cls(preset(kind, "micro", **extra)), models[kind], step=123 if kind == "t2s" else None)
    embs = {"flite:slt": [torch.randn(256) for _ in range(3)], "piper:joe": [torch.randn(256) for _ in range(2)]}
    with wds.TarWriter(str(tmp_path / "spk-000000.tar")) as w:
        for i, (voice, e) in enumerate((v, e) for v, es in embs.items() for e in es):
            w.write(
                {
                    "__key__": f"u{i:03d}",
                    "json": json.dumps({"voice": voice}).encode(),
                    "txt": b"x" * 20,
                    "stoks.npy": npy_bytes(
                        np.zeros(25 * (i + 1), dtype="int16")
                    ),  # 20, 10, 6.7 | 5, 4 characters a second
                    "spk.npy": npy_bytes(e.numpy().astype("float16")),
                }
            )
    out = tmp_path / "bundle"
    script = SCRIPTS / "make_voice_bundle.py"
    r = subprocess.run(
        [
            sys.executable,
            str(script),
            *(a for k, p in models.items() for a in (f"--{k}", str(p))),
            "--spk",
            str(tmp_path / "spk-*.tar"),
            "--s2a-temperature",
            "0.5",
            "--s2a-guidance",
            "2",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "flite:slt                3 utterances" in r.stdout
    assert (out / "t2s.model").stat().st_size < models["t2s"].stat().st_size  # stored in float16
    assert trained_steps(out / "t2s.model") == 123 and trained_steps(out / "s2a.model") is None  # steps kept
    assert load_model(out / "s2a.model", kind="s2a").config.guidance == 2.0
    voices = load_voices(out / "voices.pt")
    for v, es in embs.items():
        mean = torch.nn.functional.normalize(torch.stack([e.half().float() for e in es]).mean(0), dim=0)
        assert torch.allclose(voices[v], mean, atol=1e-3)
    assert json.loads((out / "sampling.json").read_text())["temperature"] == {"s2a": 0.5}
    assert load_bundle(out).temperature == {"t2s": 0.7, "s2a": 0.5}  # T2S follows the package default
    assert load_bundle(out).rates == {"flite:slt": 10.0, "piper:joe": 4.5}  # the median of each voice's utterances
    (out / "rates.json").unlink()
    voices_before = (out / "voices.pt").read_bytes()
    r = subprocess.run(
        [sys.executable, str(script), "--only-rates", "--spk", str(tmp_path / "spk-*.tar"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (
        load_bundle(out).rates == {"flite:slt": 10.0, "piper:joe": 4.5}
        and (out / "voices.pt").read_bytes() == voices_before
    )


@pytest.mark.skipif(not (TOKENS / "MANIFEST.json").exists(), reason="no committed training tokens in this checkout")
def test_s2a_evaluation_remakes_training_samples_as_the_shards_hold_them(monkeypatch):
    """scripts/research/eval_s2a.py's cross-entropy samples come out of the pipeline the committed shards came out of:
    remade for a training sentence and voice, the semantic tokens, speaker embedding and codes are the shard's (through
    the corpus's 16-bit FLAC: from float audio, near-silent frames code otherwise); of the finest codebook, whose
    residual is smallest, a rare code may flip with the last bits of the audio stack (numpy, libsndfile versions)."""
    import webdataset as wds
    from whisperspeech.stages import expand_shards

    monkeypatch.syspath_prepend(str(SCRIPTS / "research"))
    from eval_s2a import VOICE, training_sample

    shard = str(expand_shards(str(TOKENS / "new-text/*.tar.gz"))[0])
    s = next(s for s in wds.WebDataset(shard, shardshuffle=False).decode() if s["json"]["voice"] == "flite:slt")
    made = training_sample(
        load_model(VOICE / "vq.model", kind="vq"),
        load_model(VOICE / "codec.model", kind="codec"),
        s["txt"],
        "flite:slt",
    )
    assert (made["stoks.npy"] == s["stoks.npy"]).all()
    spk = torch.nn.functional.cosine_similarity(*(torch.as_tensor(x["spk.npy"]).float() for x in (made, s)), dim=0)
    assert spk > 0.999 and made["atoks.npy"].shape == s["atoks.npy"].shape
    same = made["atoks.npy"] == s["atoks.npy"]
    assert same[:3].all() and same[3].mean() > 0.995, same.mean(-1)


@pytest.mark.skipif(
    not (TOKENS / "MANIFEST.json").exists() or not embedded_available(), reason="no tokens or voice here"
)
def test_s2a_evaluation_on_its_own_training_samples(monkeypatch):
    """scripts/research/eval_s2a.py --trained-on: the first samples of each voice asked for, English only, and their
    resynthesis judged like held-out speech's (no original speech in the shards: no original WER)."""
    monkeypatch.syspath_prepend(str(SCRIPTS / "research"))
    from eval_s2a import align, load_stack, resynthesis, s2a_parser, shard_samples

    samples = shard_samples(str(TOKENS / "12h/*.tar.gz"), ["flite:slt", "piper:joe"], 2)
    assert [s["json"]["voice"] for s in samples] == ["flite:slt"] * 2 + ["piper:joe"] * 2
    assert all(s["json"]["lang"] == "en" and s["txt"] for s in samples)
    tok, s2a, vocoder = load_stack(s2a_parser("", 1).parse_args([str(EMBEDDED / "s2a.model")]))
    align(s2a, samples[:1])  # as the script does: a voice whose S2A hears phonemes gets the sample's, aligned
    (row,) = resynthesis(tok, s2a, vocoder, samples[:1], 0.7)
    assert row["voice"] == "flite:slt" and row["wer_original"] is None and 0 <= row["wer_resynthesis"] < 1
    assert row["similarity"] > 0.6 and 0.9 < row["duration_ratio"] <= 1.0


@pytest.mark.skipif(
    not (TOKENS / "MANIFEST.json").exists() or not embedded_available(), reason="no tokens or voice here"
)
def test_codebook_oracle_conditions_s2a_on_the_true_codes(monkeypatch):
    """scripts/research/s2a_codebook_oracle.py: with K codebooks forced, those come out as the true codes, frame for
    frame through the delay pattern, and the first free codebook follows them more closely than unforced."""
    import webdataset as wds
    from whisperspeech.stages import expand_shards

    monkeypatch.syspath_prepend(str(SCRIPTS / "research"))
    from s2a_codebook_oracle import forced_resynthesis

    s2a = load_model(AUTOREGRESSIVE_S2A, kind="s2a")
    shard = str(expand_shards(str(TOKENS / "12h/*.tar.gz"))[0])
    sample = next(iter(wds.WebDataset(shard, shardshuffle=False).decode()))
    true = torch.from_numpy(sample["atoks.npy"]).long()
    agree = lambda codes: (codes[:, : true.shape[-1]] == true[:, : codes.shape[-1]]).float().mean(1)
    free, one, every = (
        agree(forced_resynthesis(s2a, sample, true, k, 0.7, seed=0)) for k in (0, 1, s2a.config.quantizers)
    )
    assert every.tolist() == [1.0] * s2a.config.quantizers and one[0] == 1.0 and free[0] < 1.0
    assert one[1] > free[1]  # a training sample: given its first codebook, S2A recalls the second far better


@pytest.mark.skipif(not embedded_available(), reason="no embedded voice in this checkout")
def test_codec_code_stability_under_16_bit_audio(monkeypatch):
    """scripts/research/eval_codec.py --codes-only: audio already in 16 bits keeps every code; float audio of a flite voice
    loses codes to the rounding (in its near-silent frames), the residual codebooks most."""
    monkeypatch.syspath_prepend(str(SCRIPTS / "research"))
    from eval_codec import code_stability

    codec = load_model(EMBEDDED / "codec.model", kind="codec")
    wav = speak_system("Rice is often served in round bowls.", "flite:kal16", sr=24000)
    assert code_stability(codec, torch.round(wav * 32767) / 32767) == [1.0] * 4
    kept = code_stability(codec, wav)
    assert kept[-1] < kept[0] < 1.0


@pytest.mark.skipif(
    not (TOKENS / "MANIFEST.json").exists() or not embedded_available(), reason="no tokens or voice here"
)
def test_s2a_per_codebook_measures_add_up_to_its_loss(monkeypatch):
    """scripts/research/eval_s2a.py's per-codebook cross-entropy averages to the training loss (every codebook has as many
    targets), and on training samples S2A is surest and most often right on the first codebook."""
    import webdataset as wds
    from whisperspeech.stages import expand_shards
    from whisperspeech.training import _loss, batch_maker

    monkeypatch.syspath_prepend(str(SCRIPTS / "research"))
    from eval_s2a import per_codebook

    s2a = load_model(AUTOREGRESSIVE_S2A, kind="s2a")
    shard = str(expand_shards(str(TOKENS / "12h/*.tar.gz"))[0])
    samples = [s for _, s in zip(range(3), wds.WebDataset(shard, shardshuffle=False).decode())]
    m = per_codebook(s2a, samples)
    with torch.no_grad():
        loss = float(_loss("s2a", s2a, batch_maker("s2a", s2a.config)(samples)))
    assert sum(m["cross_entropy"]) / len(m["cross_entropy"]) == pytest.approx(loss, abs=1e-3)
    assert m["accuracy"][0] > m["accuracy"][-1] and m["entropy"][0] < m["entropy"][-1]
    assert all(0 <= a <= 1 for a in m["accuracy"])


@pytest.mark.skipif(not embedded_available(), reason="no embedded voice in this checkout")
def test_embedded_voice_speaks_held_out_sentences_in_the_voice_asked_for(tiny_en):
    """The shipped bundle end to end, on evaluation sentences (in no training text): Whisper hears the words
    (word error rate at most 0.22 over these six utterances, 0.076 measured, most of it Whisper's spelling of "harbour"
    and "seven"; the model card's `whisperspeech eval` measures 0.08-0.14 by voice over all 30 sentences), each
    utterance sounds like its voice's teacher (similarity above 0.8) and lasts about as long."""
    from whisperspeech.evaluate import read_sentences
    from whisperspeech.pipeline import Pipeline

    pipe = Pipeline(model="embedded", quiet=True)
    texts = read_sentences(TOKENS.parent / "eval_sentences_en.txt")[:3]
    refs, heard = [], []
    for voice in ("festival:slt-hts", "flite:awb"):
        for text in texts:
            wav = resample(pipe.generate(text, speaker=voice, seed=0), 24000, 16000)
            teacher = speak_system(text, voice, sr=16000)
            refs.append(text)
            heard.append(transcribe(tiny_en, wav))
            sim = torch.nn.functional.cosine_similarity(
                *(speaker_embedding(x, "resemblyzer") for x in (wav, teacher)), dim=0
            )
            assert sim > 0.8 and 0.6 < wav.shape[0] / teacher.shape[0] < 1.6, (voice, text, float(sim))
    wer = word_error_rate(refs, heard)
    print("embedded voice:", list(zip(refs, heard)), f"WER {wer:.3f}")
    assert wer <= 0.22


def test_probe_phase_losses_and_retrieval(monkeypatch):
    """scripts/research/codec_phase_probe.py: the phase errors of a signal against itself are zero and grow when its
    phase is shifted; clone_retrieval_probe.py: strength 0 keeps the frames, strength 1 gives the mean of the nearest
    index rows, and token scores rank frames of the same token and place first."""
    monkeypatch.syspath_prepend(str(SCRIPTS / "research"))
    from clone_retrieval_probe import retrieve, token_scores
    from codec_phase_probe import phase_losses

    g = torch.Generator().manual_seed(0)
    t = torch.arange(24000) / 24000
    y = (torch.sin(2 * math.pi * 220 * t) + 0.1 * torch.randn(24000, generator=g))[None]
    assert all(float(x) < 1e-4 for x in phase_losses(y, y))
    shifted = torch.roll(y, 37, dims=-1)  # a delay changes the phase, its slope along frequency, not its magnitude
    ip, gd, iaf = phase_losses(shifted, y)
    assert float(ip) > 0.3 and float(gd) > 0.1 and float(iaf) < float(ip)

    frames, index = torch.randn(5, 8, generator=g), torch.randn(20, 8, generator=g)
    assert torch.equal(retrieve(frames, index, 0.0), frames)
    index[:5] = frames * 2  # each frame's nearest row by cosine is its own double
    assert torch.allclose(retrieve(frames, index, 1.0, k=1), frames * 2)
    codebook = torch.eye(4)
    scores = token_scores(codebook, torch.tensor([1, 2]), torch.tensor([2, 1, 3]))
    assert scores.shape == (6, 9) and int(scores[0].argmax()) == 3 and int(scores[4].argmax()) == 1


@pytest.mark.skipif(not embedded_available(), reason="the embedded voice is not in this checkout")
def test_tuning_the_embedded_s2a_on_a_recording_fits_it_and_leaves_the_model_alone():
    """`adapt_s2a` on the shipped S2A: a few steps on one recording's tokens and codes (`recording_targets`, the shipped
    tokenizer and codec) bring its latents nearer that recording's; the model it started from is untouched."""
    from whisperspeech.languages import lang_id
    from whisperspeech.s2a_adapt import adapt_s2a, recording_targets
    from whisperspeech.speaker import speaker_embedding

    torch.manual_seed(0)
    s2a, codec = (load_model(EMBEDDED / f"{k}.model", kind=k).float() for k in ("s2a", "codec"))
    tok = load_model(EMBEDDED / "vq.model", kind="vq")
    wav = speak_system("The library on Maple Street closes early on Sundays.", "espeak-ng:en+f3", sr=16000)
    stoks, codes = recording_targets(tok, codec, wav)
    assert codes.shape[-1] == 3 * len(stoks) > 0
    spk, lang = speaker_embedding(wav, "resemblyzer"), lang_id("en")
    before = {k: v.clone() for k, v in s2a.state_dict().items()}
    fit = lambda m: float((m(stoks[None], spk[None], torch.tensor([lang])) - m.target(codes[None])).abs().mean())
    adapted = adapt_s2a(s2a, stoks, codes, spk, lang, steps=8, lr=3e-4, crop=40, batch=2)
    assert fit(adapted) < 0.9 * fit(s2a)
    assert all(torch.equal(v, s2a.state_dict()[k]) for k, v in before.items())
