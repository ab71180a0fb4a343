"""The offline Whisper tiny.en, converted from CTranslate2, understands speech made at test time."""

import pytest

from whisperspeech.asr import WHISPER_SR, transcribe, word_error_rate
from whisperspeech.core import WhisperSpeechError
from whisperspeech.system_voices import speak_system
from whisperspeech.whisper_models import load_whisper, offline_checkpoint

# Harvard sentences (IEEE 1969 recommended practice for speech quality measurements; public domain).
HARVARD = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
]


@pytest.mark.parametrize("voice", ["flite:rms", "flite:slt"])
def test_transcribes_flite_speech(tiny_en, voice):
    heard = [transcribe(tiny_en, speak_system(s, voice, sr=WHISPER_SR)) for s in HARVARD]
    wer = word_error_rate(HARVARD, heard)
    print(f"{voice}: WER {wer:.3f}", *heard, sep="\n  ")
    assert wer <= 0.15


def test_loads_from_a_checkpoint_path(tiny_en):
    model = load_whisper(str(offline_checkpoint("tiny.en")))
    assert model.dims == tiny_en.dims


def test_unknown_names_list_what_works_offline():
    for bad in ["tiny-en", "/no/such/whisper.pt"]:
        with pytest.raises(WhisperSpeechError, match="available offline: tiny.en"):
            load_whisper(bad)


def test_models_without_offline_fallback_fail_fast():
    with pytest.raises(WhisperSpeechError, match="available offline: tiny.en"):
        load_whisper("base.en", download_root="/nonexistent-whisper-cache")


def test_the_judge_repeats_itself_and_leaves_the_random_state_alone(tiny_en):
    "Beam search (the default) and greedy decoding both read synthetic speech; a transcript never moves torch's RNG."
    import torch

    wav = speak_system(HARVARD[0], "flite:slt", sr=WHISPER_SR)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    heard = [transcribe(tiny_en, wav), transcribe(tiny_en, wav), transcribe(tiny_en, wav, greedy=True)]
    assert torch.equal(before, torch.get_rng_state())
    assert heard[0] == heard[1] and all(word_error_rate([HARVARD[0]], [h]) <= 0.4 for h in heard), heard
