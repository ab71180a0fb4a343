"""Bundles of untrained models for tests and benchmarks: shapes, lengths and speed of real models, noise for sound.

An untrained T2S's end token outscores every code (it would stop at once), so its embedding is shrunk and utterances
run to their length limit. The voices are real resemblyzer embeddings of system voices, at their rates speaking one
sentence."""

from pathlib import Path

import torch

from whisperspeech.bundle import save_rates, save_voices


def random_bundle(
    folder,
    size: str = "micro",
    voices=("flite:slt", "flite:rms"),
    seed: int = 0,
    s2a: str = "s2a",
    t2s: str = "t2s",
    s2a_phones: bool = False,
    tokenizer: bool = False,
    harmonic: bool = False,
) -> Path:
    """A bundle of random-weight T2S, S2A and codec of preset `size` (micro or tiny) in `folder`; `s2a`: its S2A's
    kind, the autoregressive `s2a` or `s2a-parallel` (preset micro, whatever the size); `t2s` likewise, `t2s`, `t2s-parallel` or
    `t2s-masked` (micro, reading the English phonemes of a few sentences); `s2a_phones`: the parallel S2A hears the
    T2S's phonemes too (its inventory in another order, so that the pipeline must map one to the other); `tokenizer`:
    a random semantic tokenizer (`vq.model`, over Whisper tiny.en) too, which tuning on a recording reads; `harmonic`:
    the codec is a harmonic one, its F0 predictor calling most frames voiced."""
    from whisperspeech.checkpoints import save_model
    from whisperspeech.codec import Codec
    from whisperspeech.core import STOKS_PER_SECOND, speaking_rate
    from whisperspeech.s2a import S2A
    from whisperspeech.speaker import speaker_embedding
    from whisperspeech.system_voices import speak_system
    from whisperspeech.t2s import T2S
    from whisperspeech.training import preset
    from whisperspeech.vocoder import randomize_codebooks

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    sentence = "The lamp on the desk flickered twice and then went dark."
    phones = None
    if t2s in ("t2s-parallel", "t2s-masked"):
        from whisperspeech.checkpoints import MODELS
        from whisperspeech.phonemes import text_symbols

        phones = sorted(
            {
                s
                for text in (sentence, "Quick zebras jump; vexing bold foxes, and why? Ah, the thing!")
                for s in text_symbols(text)
            }
        )
        save_model(MODELS[t2s][0](preset(t2s, "micro", phones=phones)), folder / "t2s.model")
    else:
        model = T2S(preset("t2s", size))
        with torch.no_grad():
            model.stok_emb.special.weight.mul_(0.01)
            if model.spk_to_hidden is not None:
                torch.nn.init.normal_(model.spk_to_hidden.weight)  # starts at zero: make voices matter
        save_model(model, folder / "t2s.model")
    if s2a == "s2a":
        save_model(S2A(preset("s2a", size)), folder / "s2a.model")
    codec = Codec(preset("codec", size, bins=1024, harmonic=harmonic))
    randomize_codebooks(codec)  # else every code decodes to the same zero vector: speech independent of the codes
    if harmonic:
        with torch.no_grad():
            codec.harmonic_pitch.out.bias[1] = 3.0  # voiced: the pulse train's phases, carried across windows
    save_model(codec, folder / "codec.model")
    if s2a == "s2a-parallel":
        from whisperspeech.s2a_parallel import ParallelS2A

        model = ParallelS2A(preset(s2a, "micro", phones=phones[::-1] if s2a_phones else None)).set_codec(codec)
        if s2a_phones:
            with torch.no_grad():  # starts at zero: make the phonemes matter (id 0 stays "none")
                model.phone_emb.weight[1:].normal_()
        save_model(model, folder / "s2a.model")
    if tokenizer:
        from whisperspeech.training import PRESETS
        from whisperspeech.vq import SemanticTokenizer

        save_model(SemanticTokenizer(PRESETS["vq"]["tiny.en"]), folder / "vq.model")
    speech = {v: speak_system(sentence, v, sr=16000) for v in voices}
    save_voices(folder / "voices.pt", {v: speaker_embedding(w, "resemblyzer") for v, w in speech.items()})
    save_rates(
        folder / "rates.json",
        {v: speaking_rate(sentence, len(w) / 16000 * STOKS_PER_SECOND) for v, w in speech.items()},
    )
    return folder
