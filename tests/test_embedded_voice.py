"""The embedded voice's trained models, as shipped (whisperspeech/voice/): each checked on held-out speech."""
import pytest
import torch

from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.audio import resample
from whisperspeech.bundle import EMBEDDED
from whisperspeech.checkpoints import load_model
from whisperspeech.speaker import speaker_embedding
from whisperspeech.system_voices import speak_system

HELD_OUT = ["The library on Maple Street closes early on Sundays.",
            "Our teacher read us a story about a fox who learned to swim.",
            "The mechanic said the brakes should be replaced next month."]


@pytest.mark.skipif(not (EMBEDDED / "codec.model").exists(), reason="the embedded codec is not in this checkout")
def test_embedded_codec_keeps_words_and_voice(tiny_en):
    codec = load_model(EMBEDDED / "codec.model", kind="codec")
    assert sum(p.numel() for p in codec.parameters()) < 6e6
    heard, sims = [], []
    for text in HELD_OUT:
        wav = speak_system(text, "festival:slt-hts", sr=24000)
        with torch.no_grad():
            rec = codec.decode(codec.encode(wav[None]))[0, :wav.shape[0]]
        heard.append(transcribe(tiny_en, resample(rec, 24000, 16000)))
        a, b = (speaker_embedding(resample(x, 24000, 16000), "resemblyzer") for x in (wav, rec))
        sims.append(float(torch.nn.functional.cosine_similarity(a, b, dim=0)))
    wer = word_error_rate(HELD_OUT, heard)
    print("codec reconstruction:", heard, f"WER {wer:.3f}", [round(s, 3) for s in sims])
    assert wer <= 0.15 and min(sims) >= 0.85
