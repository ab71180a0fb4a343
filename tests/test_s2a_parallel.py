"""The parallel S2A: every surface of a bundle that holds one, its training recipe, and its checkpoint kind."""

from pathlib import Path

import pytest
import torch

from whisperspeech.checkpoints import load_model, save_model
from whisperspeech.core import WhisperSpeechError
from whisperspeech.pipeline import Pipeline

TEXT = "The ferry leaves at seven. Pack your bags tonight, and do not forget the tickets."


@pytest.fixture(scope="module")
def parallel_bundle(tmp_path_factory):
    from bundles import random_bundle

    return random_bundle(tmp_path_factory.mktemp("parallel-bundle"), "micro", s2a="s2a-parallel")


@pytest.fixture(scope="module")
def pipe(parallel_bundle):
    return Pipeline(model=parallel_bundle, quiet=True)


def test_the_bundle_speaks_three_frames_a_token(pipe):
    assert pipe.parallel and type(pipe.s2a).__name__ == "ParallelS2A"
    stoks = [torch.randint(0, 512, (17,))]
    codes = pipe.generate_atoks("Hello there.", seed=0)
    assert len(codes) == 1 and codes[0].shape[0] == 4 and codes[0].shape[1] % 3 == 0
    assert codes[0].max() < 1024 and codes[0].min() >= 0
    wav = pipe.generate("Hello there.", seed=0)
    assert wav.ndim == 1 and wav.shape[0] == codes[0].shape[1] * 320  # the codec's hop
    from whisperspeech.s2a_parallel import parallel_s2a_generate

    assert parallel_s2a_generate(pipe.s2a, stoks, pipe.speaker())[0].shape == (4, 51)


def test_stream_adds_up_to_generate(pipe):
    pieces = list(pipe.generate_stream(TEXT, speaker="flite:rms", seed=7, frames=12))
    whole = pipe.generate(TEXT, speaker="flite:rms", seed=7)
    assert len(pieces) > 4 and all(p.ndim == 1 and len(p) > 0 for p in pieces)
    assert torch.allclose(torch.cat(pieces), whole, atol=1e-5)


def test_a_harmonic_codec_streams_what_it_generates(tmp_path):
    "The pieces of a stream join into the whole utterance with a harmonic codec too (its pulses run on across windows)."
    from bundles import random_bundle

    pipe = Pipeline(model=random_bundle(tmp_path / "bundle", "micro", s2a="s2a-parallel", harmonic=True), quiet=True)
    assert pipe.vocoder.codec.config.harmonic
    pieces = list(pipe.generate_stream(TEXT, speaker="flite:rms", seed=7, frames=12))
    assert len(pieces) > 4
    whole = pipe.generate(TEXT, speaker="flite:rms", seed=7)
    # float noise in the F0 that windows of other lengths predict shifts the sharp pulses by fractions of a sample, the
    # more the longer a chunk runs: tiny on average, where pulses restarted at every window differ by the signal itself
    assert (torch.cat(pieces) - whole).abs().mean() < 1e-3 < whole.abs().mean()


def test_requests_batched_together_equal_requests_alone(pipe):
    reqs = [
        dict(text="Hello there.", speaker="flite:slt", seed=1),
        dict(text=TEXT, speaker="flite:rms", cps=12, seed=2),
        dict(text="Guten Morgen.", lang="de", seed=3),
    ]
    for r, wav in zip(reqs, pipe.generate_many(reqs)):
        alone = pipe.generate(
            r["text"], speaker=r.get("speaker"), lang=r.get("lang", "en"), cps=r.get("cps"), seed=r["seed"]
        )
        assert torch.allclose(wav, alone, atol=1e-5)
    a, b = (pipe.generate_atoks("Hello there.", speaker=v, seed=1)[0] for v in ("flite:slt", "flite:rms"))
    assert not torch.equal(a, b)  # the voice reaches the S2A


def test_guidance_and_a_foreign_codec_are_clear_errors(parallel_bundle, tmp_path):
    with pytest.raises(WhisperSpeechError, match="guidance is for an autoregressive S2A"):
        Pipeline(model=parallel_bundle, guidance=2, quiet=True)
    other = tmp_path / "other"
    other.mkdir()
    for f in ("t2s.model", "s2a.model", "voices.pt", "rates.json"):
        (other / f).symlink_to(parallel_bundle / f)
    codec = load_model(parallel_bundle / "codec.model", kind="codec")
    with torch.no_grad():
        codec.quantizer.vq.layers[0].codebook.add_(0.01)  # a codec the S2A was not trained with
    save_model(codec, other / "codec.model")
    with pytest.raises(WhisperSpeechError, match="codes of the codec it was trained with"):
        Pipeline(model=other, quiet=True)


def test_a_parallel_checkpoint_serves_as_s2a_only(parallel_bundle):
    assert type(load_model(parallel_bundle / "s2a.model", kind="s2a")).__name__ == "ParallelS2A"
    with pytest.raises(
        WhisperSpeechError, match="is a parallel semantic-to-acoustic \\(S2A\\) model, but a text-to-semantic"
    ):
        load_model(parallel_bundle / "s2a.model", kind="t2s")


def test_it_learns_resumes_and_loads_in_the_pipeline(prepared, micro_codec, tmp_path):
    from test_training import fixed_batch
    from whisperspeech.training import _loss, build_model, preset, train

    config = preset("s2a-parallel", "micro")
    with pytest.raises(WhisperSpeechError, match="needs --codec"):
        train("s2a-parallel", prepared["spk"], tmp_path / "none", "micro", steps=2, batch_size=4, progress=False)
    codec = load_model(micro_codec, kind="codec")
    fresh = build_model("s2a-parallel", config).set_codec(codec).eval()
    data = fixed_batch(prepared["spk"], "s2a-parallel", config, 4)
    assert data["atoks"].shape[-1] == 3 * data["stoks"].shape[-1] and (data["frames"] <= 3 * data["lengths"]).all()
    run = tmp_path / "run"
    train(
        "s2a-parallel",
        prepared["spk"],
        run,
        "micro",
        steps=20,
        batch_size=8,
        lr=3e-3,
        warmup=3,
        save_every=10,
        progress=False,
        codec=micro_codec,
    )
    path = train(
        "s2a-parallel",
        prepared["spk"],
        run,
        "micro",
        steps=30,
        batch_size=8,
        lr=3e-3,
        warmup=3,
        save_every=10,
        progress=False,
    )  # resumes: the run keeps the codebooks it has, no --codec needed
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 30
    trained = load_model(path, kind="s2a")
    with torch.no_grad():
        before, after = float(_loss("s2a-parallel", fresh, data)), float(_loss("s2a-parallel", trained, data))
    assert after < 0.8 * before, (before, after)
    books = lambda m: torch.stack([layer.codebook for layer in m.vq.layers])
    assert torch.equal(books(trained.quantizer), books(codec.quantizer))  # the codebooks never train
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "s2a.model").symlink_to(path)
    (bundle / "codec.model").symlink_to(micro_codec)
    t2s = train("t2s", prepared["spk"], tmp_path / "t2s", steps=2, batch_size=4, progress=False)
    (bundle / "t2s.model").symlink_to(t2s)
    wav = Pipeline(model=bundle, quiet=True).generate("Hello there.", seed=0, speaker=torch.randn(256))
    assert wav.ndim == 1 and len(wav) > 0


def test_a_decoder_loss_listens_through_the_frozen_codec(prepared, micro_codec, tmp_path):
    "`--decoder-loss` adds the spectral distance of the codec's audio; the codec is needed, frozen and not saved."
    from test_training import fixed_batch
    from whisperspeech.training import _loss, preset, train

    torch.manual_seed(0)
    first = train(
        "s2a-parallel",
        prepared["spk"],
        tmp_path / "a",
        "micro",
        steps=2,
        batch_size=4,
        progress=False,
        codec=micro_codec,
    )
    with pytest.raises(WhisperSpeechError, match="give --codec"):
        train(
            "s2a-parallel",
            prepared["spk"],
            tmp_path / "b",
            "micro",
            steps=2,
            batch_size=4,
            progress=False,
            init=first,
            overrides=dict(decoder_loss=0.5),
        )
    codec_bytes = Path(micro_codec).read_bytes()
    path = train(
        "s2a-parallel",
        prepared["spk"],
        tmp_path / "c",
        "micro",
        steps=3,
        batch_size=4,
        progress=False,
        init=first,
        codec=micro_codec,
        overrides=dict(decoder_loss=0.5),
    )
    model = load_model(path, kind="s2a")
    assert model.config.decoder_loss == 0.5 and Path(micro_codec).read_bytes() == codec_bytes
    ckpt = torch.load(tmp_path / "c" / "checkpoints" / "last.ckpt", weights_only=False)
    assert not [k for k in ckpt["state_dict"] if not k.startswith("model.")]  # the codec is not in the run's files
    codec = load_model(micro_codec, kind="codec").eval()
    data = fixed_batch(prepared["spk"], "s2a-parallel", preset("s2a-parallel", "micro"), 4)
    with torch.no_grad():
        l1, both = float(_loss("s2a-parallel", model, data)), float(_loss("s2a-parallel", model, data, codec))
    assert both > l1 > 0


def test_an_init_run_moves_onto_the_codebooks_of_the_codec_given(prepared, micro_codec, tmp_path):
    "Shards recoded by another codec: a run from an export with --codec predicts the new codec's latents."
    from whisperspeech.checkpoints import save_model
    from whisperspeech.codec import Codec
    from whisperspeech.training import preset, train
    from whisperspeech.vocoder import randomize_codebooks

    torch.manual_seed(1)
    other = Codec(preset("codec", "micro", bins=1024))
    randomize_codebooks(other)
    other_path = save_model(other, tmp_path / "other.model")
    run = lambda out, **kw: train(
        "s2a-parallel", prepared["spk"], tmp_path / out, "micro", steps=1, batch_size=4, progress=False, **kw
    )
    first = run("a", codec=micro_codec)
    moved, kept = run("b", init=first, codec=other_path), run("c", init=first)
    load = lambda p: load_model(p, kind="s2a")
    old, new = load_model(micro_codec, kind="codec"), load_model(other_path, kind="codec")
    assert load(first).speaks(old) and load(kept).speaks(old) and not load(kept).speaks(new)
    assert load(moved).speaks(new) and not load(moved).speaks(old)


def test_speaker_film_grows_from_an_export_at_zero_and_learns(prepared, micro_codec, tmp_path):
    "`speaker_film` grown onto an export without it computes what the export did, then trains away from zero."
    from dataclasses import replace

    from whisperspeech.s2a_parallel import ParallelS2A
    from whisperspeech.training import load_grown, train

    run = lambda out, steps, **kw: train(
        "s2a-parallel", prepared["spk"], tmp_path / out, "micro", steps=steps, batch_size=4, progress=False, **kw
    )
    torch.manual_seed(0)
    first_path = run("a", 1, codec=micro_codec)
    first = load_model(first_path, kind="s2a").float().eval()
    grown = ParallelS2A(replace(first.config, speaker_film=True)).eval()
    load_grown(grown, first, "grown")
    stoks, speakers = torch.randint(0, 512, (2, 12)), torch.randn(2, first.config.spk_width)
    with torch.no_grad():
        assert torch.equal(grown(stoks, speakers), first(stoks, speakers))
    trained = load_model(run("b", 3, init=str(first_path), overrides=dict(speaker_film=True), lr=3e-3, warmup=1))
    assert trained.config.speaker_film and all(layer.weight.detach().any() for layer in trained.spk_film)
    assert load_model(run("c", 1, init=str(first_path))).spk_film is None  # without asking, none grows


def test_references_are_other_utterances_of_the_same_voice(prepared):
    """Training gives each sample, as its reference, a crop of another utterance of its voice, never of itself; with
    `speaker_dropout`, such samples lose their speaker embedding."""
    import random

    import webdataset as wds

    from whisperspeech.s2a_parallel import ParallelS2AConfig
    from whisperspeech.training import ReferenceBank, _meta, _npy, s2a_parallel_batch

    urls = sorted(str(p) for p in Path(prepared["spk"]).glob("*.tar*"))
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode())
    config = ParallelS2AConfig(prompt_layers=1, prompt_frames=40, prompt_dropout=0.0, speaker_dropout=1.0)
    bank, rng, seen = ReferenceBank(), random.Random(0), 0
    voice = []
    for i, s in enumerate(samples):  # codes that name their utterance (codebook 0) and their frame (codebook 1)
        frames = _npy(s["atoks.npy"]).shape[-1]
        s["atoks.npy"] = torch.stack([torch.full((frames,), i), torch.arange(frames), *torch.zeros(2, frames)]).numpy()
        voice.append(_meta(s)["voice"])
    for i in range(0, len(samples), 4):
        batch = s2a_parallel_batch(samples[i : i + 4], config, rng, bank)
        for j, (ref, n) in enumerate(zip(batch["prompt_codes"], batch["prompt_lengths"].tolist())):
            assert bool(batch["speakers"][j].any()) == (n == 0)  # speaker_dropout 1: a reference hides the embedding
            if not n:
                continue
            seen, source, start = seen + 1, int(ref[0, 0]), int(ref[1, 0])
            assert 0 < n <= 40 and source != i + j and voice[source] == voice[i + j]
            assert torch.equal(ref[0, :n], torch.full((n,), source)) and torch.equal(
                ref[1, :n], torch.arange(n) + start
            )
    assert seen >= 3  # voices repeat in 20 utterances: most later samples find one


def test_a_reference_grows_from_an_export_at_zero_and_is_heard(prepared, micro_codec, tmp_path):
    """`--reference-layers` grown onto an export computes what the export did, whatever the reference; trained, it
    hears the reference, and a pipeline hears a cloned recording's latents, streamed or not."""
    from dataclasses import replace

    from bundles import random_bundle
    from whisperspeech.s2a_parallel import ParallelS2A, parallel_s2a_generate
    from whisperspeech.training import load_grown, train

    run = lambda out, steps, **kw: train(
        "s2a-parallel", prepared["spk"], tmp_path / out, "micro", steps=steps, batch_size=4, progress=False, **kw
    )
    torch.manual_seed(0)
    first_path = run("a", 1, codec=micro_codec)
    first = load_model(first_path, kind="s2a").float().eval()
    grown = ParallelS2A(replace(first.config, prompt_layers=1)).eval()
    load_grown(grown, first, "grown")
    stoks, speakers = [torch.randint(0, 512, (12,))], torch.randn(first.config.spk_width)
    ref = torch.randn(30, first.config.codebook_dim)
    same = lambda a, b: torch.equal(a[0], b[0])
    assert same(
        parallel_s2a_generate(grown, stoks, speakers, prompts=ref), parallel_s2a_generate(first, stoks, speakers)
    )
    trained = load_model(run("b", 3, init=str(first_path), overrides=dict(prompt_layers=1), lr=3e-3, warmup=1))
    assert trained.hears_reference and all(a.attn.out_proj.weight.detach().any() for a in trained.prompt_attn)
    assert not load_model(run("c", 1, init=str(first_path))).hears_reference  # without asking, none grows

    pipe = Pipeline(model=random_bundle(tmp_path / "bundle", "micro", s2a="s2a-parallel"), quiet=True)
    hearing = ParallelS2A(replace(pipe.s2a.config, prompt_layers=1)).eval()
    load_grown(hearing, pipe.s2a, "the bundle's S2A")  # its codebooks (the codec's) and weights
    pipe.s2a = hearing
    torch.manual_seed(1)
    for a in pipe.s2a.prompt_attn:
        torch.nn.init.normal_(a.attn.out_proj.weight, std=0.5)
    wav = torch.sin(torch.arange(16000 * 2) / 16000 * 2 * torch.pi * 180) * 0.3  # 2 s at 16 kHz
    rec = pipe.clone(wav)
    assert rec.latents.shape == (-(-48000 // pipe.vocoder.hop_length), pipe.s2a.config.codebook_dim)
    with_ref = pipe.generate(TEXT, speaker=rec, seed=0)
    assert not torch.equal(with_ref, pipe.generate(TEXT, speaker=rec.embedding, seed=0))
    assert torch.allclose(torch.cat(list(pipe.generate_stream(TEXT, speaker=rec, seed=0))), with_ref, atol=1e-4)


def test_a_clone_tuned_on_its_recording_speaks_through_its_own_copy_of_the_s2a(tmp_path, private_cache):
    """`Pipeline.clone(recording, tune_steps=N)` tunes a copy of the parallel S2A on the recording, read by the
    bundle's tokenizer: the copy fits the recording better, the clone speaks through it alone, in batches shared with
    other voices (which keep the pipeline's S2A, left as it was) and streamed; wrong uses say what to do."""
    from bundles import random_bundle
    from whisperspeech.languages import lang_id
    from whisperspeech.s2a_adapt import recording_targets
    from whisperspeech.system_voices import speak_system
    from whisperspeech.training import PRESETS
    from whisperspeech.vq import SemanticTokenizer

    folder = random_bundle(tmp_path / "bundle", "micro", s2a="s2a-parallel")
    pipe = Pipeline(model=folder, quiet=True)
    wav = speak_system("The library on Maple Street closes early on Sundays.", "espeak-ng:en+f3", sr=16000)
    with pytest.raises(WhisperSpeechError, match="needs the semantic tokenizer"):
        pipe.clone(wav, tune_steps=2)
    save_model(SemanticTokenizer(PRESETS["vq"]["tiny.en"]), folder / "vq.model")
    pipe = Pipeline(model=folder, quiet=True)
    before = {k: v.clone() for k, v in pipe.s2a.state_dict().items()}
    plain, tuned = pipe.clone(wav), pipe.clone(wav, tune_steps=40)
    assert plain.s2a is None and tuned.s2a is not None and torch.equal(plain.embedding, tuned.embedding)
    assert all(torch.equal(v, pipe.s2a.state_dict()[k]) for k, v in before.items())

    stoks, codes = recording_targets(pipe._semantic_tokenizer(), pipe.vocoder.codec, wav)
    en = torch.tensor([lang_id("en")])
    fit = lambda m: float((m(stoks[None], tuned.embedding[None], en) - m.target(codes[None])).abs().mean())
    with torch.no_grad():
        assert codes.shape[-1] == 3 * len(stoks) > 50 and fit(tuned.s2a) < 0.9 * fit(pipe.s2a)

    alone = pipe.generate(TEXT, speaker=tuned, seed=0)
    assert not torch.allclose(alone, pipe.generate(TEXT, speaker=plain, seed=0), atol=1e-3)
    many = pipe.generate_many([dict(text=TEXT, speaker=s, seed=0) for s in (plain, tuned, "flite:rms")])
    assert torch.allclose(many[1], alone, atol=1e-4)
    assert torch.allclose(many[0], pipe.generate(TEXT, speaker=plain, seed=0), atol=1e-4)
    assert torch.allclose(many[2], pipe.generate(TEXT, speaker="flite:rms", seed=0), atol=1e-4)
    assert torch.allclose(torch.cat(list(pipe.generate_stream(TEXT, speaker=tuned, seed=0))), alone, atol=1e-4)

    for recording, steps, message in (
        (wav, -1, "Give a whole number of steps"),
        (tuned.embedding, 2, "not an embedding"),
        (wav[:8000], 2, "too little to tune on"),
    ):
        with pytest.raises(WhisperSpeechError, match=message):
            pipe.clone(recording, tune_steps=steps)
    with pytest.raises(WhisperSpeechError, match="for a parallel S2A"):
        Pipeline(model=random_bundle(tmp_path / "ar", "micro"), quiet=True).clone(wav, tune_steps=2)
