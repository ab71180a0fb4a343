"""A 20-utterance synthetic corpus through every preparation stage; killed and resumed stages."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from whisperspeech.stages import expand_shards, read_samples

WS = str(Path(sys.executable).parent / "whisperspeech")


def keys(folder):
    return [s["__key__"] for p in expand_shards(folder) for s in read_samples(p)]


def test_a_folder_of_shards_is_its_tar_and_tar_gz_files_and_an_empty_one_is_an_error(tmp_path):
    from whisperspeech.core import WhisperSpeechError

    for name in ("a.tar", "b.tar.gz", ".c.tar", "d.json"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in expand_shards(tmp_path)] == ["a.tar", "b.tar.gz"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(WhisperSpeechError, match="no shards"):
        expand_shards(tmp_path / "empty")


def test_every_stage_adds_its_fields(prepared):
    final = list(read_samples(expand_shards(prepared["spk"])[0]))
    assert {"flac", "txt", "asr.txt", "json", "atoks.npy", "stoks.npy", "spk.npy"} <= set(final[0])
    assert len(keys(prepared["spk"])) == 20 and keys(prepared["spk"]) == keys(prepared["segment"])
    langs = {json.loads(s["json"])["lang"] for p in expand_shards(prepared["spk"]) for s in read_samples(p)}
    assert "en" in langs and len(langs) >= 2
    for name, summary in prepared["summaries"].items():
        assert summary["bad"] == 0 and summary["samples_out"] == 20, (name, summary)
        print(name, summary["audio_seconds_per_second"], "s of audio per s")


def test_transcripts_of_english_voices_are_close(prepared):
    from whisperspeech.asr import word_error_rate

    refs, hyps = [], []
    for p in expand_shards(prepared["transcribe"]):
        for s in read_samples(p):
            meta = json.loads(s["json"])
            if meta["lang"] == "en" and meta["voice"] in ("flite:rms", "flite:slt", "piper:joe", "festival:slt-hts"):
                refs.append(s["txt"].decode())
                hyps.append(s["asr.txt"].decode())
    if refs:
        assert word_error_rate(refs, hyps) < 0.5


def test_killed_stage_resumes_without_losing_or_duplicating(prepared, tmp_path):
    out = tmp_path / "asr"
    cmd = [WS, "prepare", "transcribe", "-i", str(prepared["corpus"]), "-o", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("corpus-*.tar")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.name for p in out.glob("corpus-*.tar"))
    assert 1 <= len(done_before) < 4, "the kill should land mid-run"
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["skipped_existing"] == len(done_before)
    assert keys(out) == keys(prepared["corpus"])  # same keys, same order, each once
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_a_new_corpus_can_exclude_the_text_of_earlier_ones(prepared, tmp_path):
    "prepare corpus --exclude-text: with the earlier corpus's own seed, not one of its sentences comes back."
    from whisperspeech.corpus import spoken_sentences

    out = tmp_path / "more"
    corpus = [
        WS,
        "prepare",
        "corpus",
        "-o",
        str(out),
        "--utterances",
        "5",
        "--shard-size",
        "5",
        "--seed",
        "5",
        "--languages",
        "en:0.7,de:0.15,pl:0.15",
        "--quiet",
        "--exclude-text",
    ]
    r = subprocess.run(corpus + [str(prepared["corpus"])], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    earlier = spoken_sentences(prepared["corpus"])
    assert spoken_sentences(prepared["transcribe"]) == earlier  # Whisper's asr.txt is not what the corpus speaks
    assert len(earlier) >= 15 and len(spoken_sentences(out)) == 5 and not earlier & spoken_sentences(out)
    assert json.loads((out / "spec.json").read_text())["excluded_sentences"] == len(earlier)
    # a sentence file too (held-out sentences): the same seed and corpus, its 5 sentences listed, draws 5 others
    held = tmp_path / "held_out.txt"
    held.write_text("\n".join(sorted(spoken_sentences(out))) + "\n", encoding="utf-8")
    again = [str(tmp_path / "again") if a == str(out) else a for a in corpus]
    r = subprocess.run(again + [str(prepared["corpus"]), "--exclude-text", str(held)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(spoken_sentences(tmp_path / "again")) == 5 and not spoken_sentences(
        tmp_path / "again"
    ) & spoken_sentences(out)
    r = subprocess.run(corpus + [str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert r.returncode != 0 and "no shards match" in r.stderr and "Traceback" not in r.stderr


def test_corrupt_audio_is_reported_and_skipped(prepared, tmp_path):
    import webdataset as wds

    src = tmp_path / "in"
    src.mkdir()
    good = list(read_samples(expand_shards(prepared["corpus"])[0]))[:2]
    with wds.TarWriter(str(src / "mixed-000000.tar"), encoder=False) as w:
        w.write({"__key__": "empty", "flac": b""})
        for s in good:
            w.write({k: v for k, v in s.items() if not k.startswith("__") or k == "__key__"})
        w.write({"__key__": "garbage", "flac": os.urandom(2000)})
    r = subprocess.run(
        [WS, "prepare", "spk", "-i", str(src), "-o", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["bad"] == 2 and summary["samples_out"] == 2
    assert "skipped empty" in r.stderr and "skipped garbage" in r.stderr


def test_slim_shards_make_the_same_training_batches(prepared, tmp_path):
    "The slim stage keeps only what T2S and S2A read: a small fraction of the bytes, the same batches."
    import webdataset as wds
    from whisperspeech.training import batch_maker, preset

    r = subprocess.run(
        [WS, "prepare", "slim", "-i", str(prepared["spk"]), "-o", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["samples_out"] == 20 and keys(tmp_path) == keys(prepared["spk"])
    fields = {k for k in next(iter(read_samples(expand_shards(tmp_path)[0]))) if not k.startswith("__")}
    assert fields == {"txt", "json", "stoks.npy", "atoks.npy", "spk.npy"}
    size = lambda folder: sum(p.stat().st_size for p in expand_shards(folder))
    assert size(tmp_path) < size(prepared["spk"]) / 10
    decoded = lambda folder: list(wds.WebDataset([str(p) for p in expand_shards(folder)], shardshuffle=False).decode())
    full, slim = decoded(prepared["spk"]), decoded(tmp_path)
    for kind in ("t2s", "s2a"):
        make = batch_maker(kind, preset(kind, "micro"))
        a, b = make(full[:6]), make(slim[:6])
        for name in a:
            if name == "keys":
                assert a[name] == b[name]
            elif name == "speakers":
                assert torch.allclose(a[name], b[name], atol=1e-3)  # float16 in slim shards
            elif a[name] is not None:
                assert torch.equal(a[name], b[name]), (kind, name)


def test_slim_needs_semantic_tokens(prepared, tmp_path):
    r = subprocess.run(
        [WS, "prepare", "slim", "-i", str(prepared["atoks"]), "-o", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and json.loads(r.stdout)["bad"] == 20
    assert "no semantic tokens: run the stoks stage first" in r.stderr


@pytest.mark.parametrize("backend", ["whisper", "faster-whisper"])
def test_transcribe_backends(backend):
    "The offline tiny.en through openai-whisper, and as CTranslate2 int8 through faster-whisper."
    import io
    import soundfile as sf
    from whisperspeech.asr import word_error_rate
    from whisperspeech.stages import transcriber
    from whisperspeech.system_voices import speak_system

    text = "Glue the sheet to the dark blue background."
    buf = io.BytesIO()
    sf.write(buf, speak_system(text, "flite:rms").numpy(), 24000, format="FLAC")
    out = transcriber(backend=backend)({"__key__": "a", "flac": buf.getvalue(), "json": b'{"lang": "en"}'})[0]
    assert word_error_rate([text], [out["asr.txt"].decode()]) <= 0.15
    assert out["txt"] == out["asr.txt"]


def test_atoks_recodes_token_shards_from_the_audio_they_were_made_of(prepared, tmp_path):
    "New codes for token shards (no audio): each sample's audio is found by key in the shards they were made from."
    import io

    import numpy as np

    codec = str(Path(__file__).parents[1] / "whisperspeech" / "voice" / "codec.model")
    run = lambda *a: subprocess.run([WS, "prepare", *a, "--quiet"], capture_output=True, text=True)
    slim, recoded, direct = tmp_path / "slim", tmp_path / "recoded", tmp_path / "direct"
    assert run("slim", "-i", str(prepared["spk"]), "-o", str(slim)).returncode == 0
    r = run("atoks", "-i", str(slim), "-o", str(recoded), "--codec", codec, "--audio-from", str(prepared["segment"]))
    assert r.returncode == 0 and json.loads(r.stdout)["bad"] == 0, r.stderr
    assert run("atoks", "-i", str(prepared["segment"]), "-o", str(direct), "--codec", codec).returncode == 0

    samples = lambda folder: {s["__key__"]: s for p in expand_shards(folder) for s in read_samples(p)}
    codes = lambda s: np.load(io.BytesIO(s["atoks.npy"]))
    new, want, old = samples(recoded), samples(direct), samples(slim)
    assert new.keys() == want.keys() == old.keys() and len(new) == 20
    assert all(np.array_equal(codes(new[k]), codes(want[k])) for k in new)  # the codes of the audio itself
    assert all(not np.array_equal(codes(new[k]), codes(old[k])) for k in new)  # EnCodec's codes replaced by ours
    fields = lambda s: {k for k in s if not k.startswith("__")}
    assert all(fields(new[k]) == fields(old[k]) and new[k]["stoks.npy"] == old[k]["stoks.npy"] for k in new)

    r = run(
        "atoks", "-i", str(slim), "-o", str(tmp_path / "wrong"), "--codec", codec, "--audio-from", str(direct.parent)
    )
    assert json.loads(r.stdout)["bad"] == 20 and "give the shards these were made from" in r.stderr


def test_atoks_recodes_from_the_codes_where_the_audio_is_not_theirs(prepared, tmp_path):
    """Audio that is not what a shard's codes were made from (another length: Piper draws noise, so two syntheses
    differ) is refused; with --codes-from, the codec that made them, such a sample is heard from its codes instead,
    and marked so, while samples whose audio is theirs still get the codes of that audio."""
    import io
    import tarfile

    import numpy as np
    import soundfile as sf

    codec = str(Path(__file__).parents[1] / "whisperspeech" / "voice" / "codec.model")
    run = lambda *a: subprocess.run([WS, "prepare", *a, "--quiet"], capture_output=True, text=True)
    ours, slim = tmp_path / "ours", tmp_path / "slim"
    assert run("atoks", "-i", str(prepared["spk"]), "-o", str(ours), "--codec", codec).returncode == 0
    assert run("slim", "-i", str(ours), "-o", str(slim)).returncode == 0
    shard = expand_shards(prepared["segment"])[0]
    changed = sorted(s["__key__"] for s in read_samples(shard))[:3]
    other = tmp_path / "rebuilt" / shard.name  # the same corpus with three utterances synthesized otherwise
    other.parent.mkdir()
    with tarfile.open(shard) as src, tarfile.open(other, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.split(".")[0] in changed and m.name.endswith(".flac"):
                wav, sr = sf.read(io.BytesIO(data))
                buf = io.BytesIO()
                sf.write(buf, np.concatenate([wav, wav[: sr // 5]]), sr, format="FLAC")
                data = buf.getvalue()
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    for p in expand_shards(prepared["segment"])[1:]:
        (other.parent / p.name).symlink_to(p)

    r = run(
        "atoks", "-i", str(slim), "-o", str(tmp_path / "refused"), "--codec", codec, "--audio-from", str(other.parent)
    )
    assert json.loads(r.stdout)["bad"] == 3 and "not the audio its codes were made from" in r.stderr
    r = run(
        *("atoks", "-i", str(slim), "-o", str(tmp_path / "recoded"), "--codec", codec),
        *("--audio-from", str(other.parent), "--codes-from", codec),
    )
    assert r.returncode == 0 and json.loads(r.stdout)["bad"] == 0, r.stderr
    samples = lambda folder: {s["__key__"]: s for p in expand_shards(folder) for s in read_samples(p)}
    codes = lambda s: np.load(io.BytesIO(s["atoks.npy"]))
    new, old = samples(tmp_path / "recoded"), samples(ours)
    from_codes = {k for k, s in new.items() if json.loads(s["json"]).get("atoks_from") == "codes"}
    assert from_codes == set(changed) and len(new) == len(old) == 20
    assert all(np.array_equal(codes(new[k]), codes(old[k])) for k in new if k not in from_codes)  # their own audio
    assert all(codes(new[k]).shape == codes(old[k]).shape for k in from_codes)
    # the same codec in and out: a copy through it keeps most first-codebook codes of the shard
    assert np.mean([(codes(new[k])[0] == codes(old[k])[0]).mean() for k in from_codes]) > 0.5
