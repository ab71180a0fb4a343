"""Reading semantic tokens back into text with the frozen Whisper decoder (`read_tokens`, over the tokens' own span),
with the shipped tokenizer on its own training tokens and on speech, and the readback scores of `whisperspeech eval`."""

import math
import shutil

import pytest
import torch

from whisperspeech.asr import word_error_rate
from whisperspeech.bundle import EMBEDDED
from whisperspeech.checkpoints import load_model
from whisperspeech.core import WhisperSpeechError
from whisperspeech.system_voices import speak_system
from whisperspeech.vq import READ_TOKENS_PER_SECOND, read_tokens, transcribe_tokens

TOKENS = EMBEDDED.parent.parent / "datasets" / "voice-tokens"
SCRIPTS = EMBEDDED.parent.parent / "scripts" / "research"
pytestmark = pytest.mark.skipif(not (EMBEDDED / "vq.model").exists(), reason="no shipped tokenizer in this checkout")


@pytest.fixture(scope="module")
def shipped(tiny_en):
    tok = load_model(EMBEDDED / "vq.model", kind="vq")
    tok._whisper[0] = tiny_en
    return tok


@pytest.mark.skipif(not (TOKENS / "MANIFEST.json").exists(), reason="no committed training tokens in this checkout")
def test_true_tokens_read_back_as_their_transcript_and_stop(shipped, monkeypatch):
    """The first 8 English samples of the first 12 h shard: read over their own span, WER 0.56 (measured; greedy
    and deterministic), each text at most 1.23x its transcript's length (no repeats); from a 30 s window (the old
    reading) WER 0.86, most of them read as a word or two."""
    import webdataset as wds

    monkeypatch.syspath_prepend(str(SCRIPTS))
    from eval_vq import windowed_read

    shard = str(TOKENS / "12h" / "corpus-000000.tar.gz")
    samples = [s for s in wds.WebDataset(shard, shardshuffle=False).decode() if s["json"]["lang"] == "en"][:8]
    refs, stoks = [s["txt"] for s in samples], [torch.from_numpy(s["stoks.npy"].astype("int64")) for s in samples]
    read = read_tokens(shipped, stoks)
    print(list(zip(refs, read)))
    assert isinstance(read, list) and len(read) == 8 and read[2] == "It is well that no one saw you."
    assert word_error_rate(refs, read) <= 0.65
    assert all(0 < len(h) <= 1.5 * len(r) for r, h in zip(refs, read))
    assert word_error_rate(refs, [windowed_read(shipped, s) for s in stoks]) >= 0.75


def test_transcribe_tokens_reads_speech_over_its_span(shipped):
    "Tokens of held-out speech read back close to what was said (WER 0.27 measured), and stop."
    texts = [
        "The library on Maple Street closes early on Sundays.",
        "Our teacher read us a story about a fox who learned to swim.",
    ]
    read = [transcribe_tokens(shipped, speak_system(t, "flite:slt", sr=16000)) for t in texts]
    print(read)
    assert word_error_rate(texts, read) <= 0.45 and all(len(h) <= 1.5 * len(t) for t, h in zip(texts, read))


def test_read_tokens_of_nothing_short_or_wrong_tokens(shipped):
    assert read_tokens(shipped, torch.tensor([], dtype=torch.long)) == "" and read_tokens(shipped, []) == []
    short = torch.tensor([12, 40, 40, 7, 512])  # 0.2 s, the last one the mask code: the text stays within the cap
    text = read_tokens(shipped, short)
    import whisper

    n = len(whisper.tokenizer.get_tokenizer(False).encode(" " + text))
    assert isinstance(text, str) and n <= math.ceil(len(short) / 25 * READ_TOKENS_PER_SECOND) + 2
    assert read_tokens(shipped, [short.tolist()]) == [text]  # a list of sequences: a list of texts
    with pytest.raises(WhisperSpeechError, match="outside this tokenizer's codes 0..512"):
        read_tokens(shipped, torch.tensor([3, 513]))
    with pytest.raises(WhisperSpeechError, match="1-D"):
        read_tokens(shipped, torch.zeros(2, 10, dtype=torch.long))
    with pytest.raises(WhisperSpeechError, match="more than 30 s"):
        read_tokens(shipped, torch.zeros(751, dtype=torch.long))


def test_eval_reads_back_when_the_bundle_has_a_tokenizer(tiny_bundle, tmp_path):
    """A bundle with a `vq.model` gets readback columns (T2S's tokens, the teacher's tokens); one without, none and no
    error. The random micro T2S writes noise; the teacher's tokens read back close to the sentence."""
    from whisperspeech.evaluate import evaluate, format_table, tokenizer_path
    from whisperspeech.pipeline import Pipeline

    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    shutil.copy(EMBEDDED / "vq.model", bundle / "vq.model")
    assert tokenizer_path(Pipeline(model=str(tiny_bundle), quiet=True)) is None
    assert tokenizer_path(Pipeline(model=str(bundle), quiet=True, int8=True)) == bundle / "vq.model"
    sentences = tmp_path / "s.txt"
    sentences.write_text("The soup needs more salt.\n")
    pipe = Pipeline(model=str(bundle), quiet=True)
    report = evaluate(pipe, sentences, ["flite:slt"])
    (row,) = report["voices"]
    clip = row["clips"][0]
    print(format_table(report), clip)
    assert report["readback_tokenizer"] == str(bundle / "vq.model") and isinstance(clip["readback"], str)
    assert 0 <= row["readback_wer"] and row["teacher_readback_wer"] <= 0.4
    assert report["summary"]["mean_readback_wer"] == row["readback_wer"]
    assert report["summary"]["mean_teacher_readback_wer"] == row["teacher_readback_wer"]
    assert "readback" in format_table(report).splitlines()[1]
    plain = evaluate(pipe, sentences, ["flite:slt"], tokenizer=False)
    assert plain["readback_tokenizer"] is None and "readback_wer" not in plain["voices"][0]
    assert "readback" not in format_table(plain) and "readback" not in plain["voices"][0]["clips"][0]
