"""`DecodingOptions(compile=True)` (static KV caches, `torch.compile`d decoding steps) decodes what eager decoding does."""

import pytest
import torch

from whisperspeech.decoding import DecodingOptions
from whisperspeech.layers import quantize_int8
from whisperspeech.s2a import S2A, s2a_generate
from whisperspeech.t2s import T2S, t2s_generate
from whisperspeech.training import preset

COMPILED = DecodingOptions(compile=True)


@pytest.mark.parametrize(
    "lengths, frames, guidance",
    [
        ((30, 17), [86, 47], 1.0),
        ((25,), [71], 1.0),  # padding masked;
        ((30, 17), [86, 47], 2.0),
    ],
)  # one row: its own head path; guided twins
def test_compiled_s2a_decodes_the_eager_codes(lengths, frames, guidance):
    torch.manual_seed(0)
    model = S2A(preset("s2a", "micro", uncond_rate=0.1, guidance=guidance)).eval()
    stoks = [torch.randint(0, 512, (n,)) for n in lengths]
    speakers = torch.randn(len(lengths), model.config.spk_width)
    eager = s2a_generate(model, stoks, speakers, temperature=0)
    compiled = s2a_generate(model, stoks, speakers, temperature=0, decoding=COMPILED)
    assert [c.shape[-1] for c in compiled] == frames  # 3 frames a token, less the delay
    assert all(torch.equal(a, b) for a, b in zip(eager, compiled))


def test_compiled_int8_s2a_steps_give_the_eager_int8_logits(monkeypatch):
    """Greedy int8 decoding can part ways at a near-tie (activations are rounded to bfloat16, and a compiled step
    fuses ops differently), so the two paths are compared step by step on the same tokens: the eager run's."""
    from whisperspeech.s2a import s2a_columns

    torch.manual_seed(0)
    model = quantize_int8(S2A(preset("s2a", "micro")).eval())
    stoks = [torch.randint(0, 512, (n,)) for n in (30, 17)]
    speakers = torch.randn(2, model.config.spk_width)

    def run(compile, forced=None):
        seen = []

        def record(logits, *args):  # stands in for sampling: greedy, or the forced run's next column
            seen.append(logits.clone())
            return logits.argmax(-1) if forced is None else forced[:, :, len(seen)]

        monkeypatch.setattr("whisperspeech.s2a.sample", record)
        for grid, _ in s2a_columns(model, stoks, speakers, decoding=DecodingOptions(compile=compile)):
            pass
        return grid.clone(), torch.stack(seen)

    grid, eager = run(False)
    _, compiled = run(True, forced=grid)
    assert compiled.shape == eager.shape == (3 * 30 - 1, 2, 4, model.config.codes + 2)
    assert (compiled - eager).abs().max() < 0.05 * eager.std()  # measured 0.012
    assert (compiled.argmax(-1) == eager.argmax(-1)).float().mean() > 0.98  # measured 0.999


def test_compiled_t2s_samples_the_eager_tokens():
    torch.manual_seed(0)
    model = T2S(preset("t2s", "micro")).eval()
    with torch.no_grad():
        model.stok_emb.special.weight.zero_()  # random weights would end at once
    texts = [list(b"The lamp on the desk flickered twice."), list(b"Rice is often served in round bowls.")]
    speakers = torch.randn(2, model.config.spk_width)

    def run(compile):
        gens = [torch.Generator().manual_seed(i) for i in range(2)]
        return t2s_generate(
            model,
            texts,
            [0, 0],
            [15.0, 15.0],
            temperature=1.0,
            generator=gens,
            max_tokens=40,
            decoding=DecodingOptions(compile=compile),
            speakers=speakers,
        )

    eager, compiled = run(False), run(True)
    assert [len(t) for t in eager] == [40, 40]  # decoded to the limit: every step compared
    assert all(torch.equal(a, b) for a, b in zip(eager, compiled))


def test_compiled_steps_serve_new_lengths_without_compiling_again():
    torch.manual_seed(0)
    t2s, s2a = T2S(preset("t2s", "micro")).eval(), S2A(preset("s2a", "micro")).eval()
    with torch.no_grad():
        t2s.stok_emb.special.weight.zero_()
    speakers = torch.randn(1, s2a.config.spk_width)

    def run(text, n_stoks):
        stoks = t2s_generate(t2s, [list(text)], [0], [15.0], temperature=0, max_tokens=n_stoks, decoding=COMPILED)
        return stoks, s2a_generate(s2a, stoks, speakers, temperature=0, decoding=COMPILED)

    run(b"A first sentence.", 12)  # compiles both steps
    with torch._dynamo.config.patch(error_on_recompile=True):  # another text length, token count and frame count
        stoks, atoks = run(b"Then a second, rather longer sentence of text.", 30)
    assert len(stoks[0]) == 30 and atoks[0].shape[-1] == 3 * 30 - s2a.config.quantizers


def test_a_compiled_pipeline_says_so(tiny_bundle):
    from whisperspeech.pipeline import load_pipeline

    pipe = load_pipeline(str(tiny_bundle), quiet=True, compile=True)
    assert pipe.decoding.compile and pipe.description == f"the model bundle {tiny_bundle}, compiled decoding"


def test_a_stopped_stream_leaves_no_caches_and_no_frozen_weights():
    "A consumer that stops reading `s2a_columns` early (a cancelled stream) closes its decoding session."
    from whisperspeech.s2a import s2a_columns

    torch.manual_seed(0)
    model = S2A(preset("s2a", "micro")).eval()
    columns = s2a_columns(model, [torch.randint(0, 512, (20,))], torch.randn(1, model.config.spk_width))
    for _, col in columns:
        if col == 5:
            assert all(b.attn.cache is not None for b in model.decoder)
            assert any("_derived_frozen" in m.__dict__ for m in model.modules())
            break
    columns.close()
    assert all(b.attn.cache is None for b in model.decoder)
    assert not any("_derived_frozen" in m.__dict__ for m in model.modules())
