"""`compile=True` (static KV caches, `torch.compile`d decoding steps) decodes what eager decoding does."""
import pytest
import torch

from whisperspeech.s2a import S2A, s2a_generate
from whisperspeech.t2s import T2S, t2s_generate
from whisperspeech.training import preset


@pytest.mark.parametrize("lengths, frames", [((30, 17), [86, 47]), ((25,), [71])])  # padding masked; one row (its own head path)
def test_compiled_s2a_decodes_the_eager_codes(lengths, frames):
    torch.manual_seed(0)
    model = S2A(preset("s2a", "micro")).eval()
    stoks = [torch.randint(0, 512, (n,)) for n in lengths]
    speakers = torch.randn(len(lengths), model.config.spk_width)
    eager = s2a_generate(model, stoks, speakers, temperature=0)
    compiled = s2a_generate(model, stoks, speakers, temperature=0, compile=True)
    assert [c.shape[-1] for c in compiled] == frames  # 3 frames a token, less the delay
    assert all(torch.equal(a, b) for a, b in zip(eager, compiled))


def test_compiled_t2s_samples_the_eager_tokens():
    torch.manual_seed(0)
    model = T2S(preset("t2s", "micro")).eval()
    with torch.no_grad(): model.stok_emb.special.weight.zero_()  # random weights would end at once
    texts = [list(b"The lamp on the desk flickered twice."), list(b"Rice is often served in round bowls.")]
    speakers = torch.randn(2, model.config.spk_width)
    def run(compile):
        gens = [torch.Generator().manual_seed(i) for i in range(2)]
        return t2s_generate(model, texts, [0, 0], [15.0, 15.0], temperature=1.0, generator=gens, max_tokens=40,
                            compile=compile, speakers=speakers)
    eager, compiled = run(False), run(True)
    assert [len(t) for t in eager] == [40, 40]  # decoded to the limit: every step compared
    assert all(torch.equal(a, b) for a, b in zip(eager, compiled))
