import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from whisperspeech.bundle import load_bundle
from whisperspeech.cli import main
from whisperspeech.system_voices import speak_system

HARVARD = "Glue the sheet to the dark blue background."


def run_cli(*args, stdin=None):
    "The installed console script, as a user runs it."
    script = Path(sys.executable).parent / "whisperspeech"
    return subprocess.run([str(script), *args], input=stdin, capture_output=True, text=True)


def test_help_and_usage_errors():
    assert run_cli("--help").returncode == 0
    for cmd in ["say", "voices", "eval", "serve", "ui", "whisper", "transcribe", "prepare", "train", "average"]:
        r = run_cli(cmd, "--help")
        assert r.returncode == 0 and "usage: whisperspeech" in r.stdout
    assert run_cli().returncode == 2
    assert run_cli("say", "hi", "--cps", "fast").returncode == 2  # not a number
    assert run_cli("eval", "--voice", "flite:slt").returncode == 2  # no --sentences
    assert run_cli("say", "hi", "--top-k", "0").returncode == 2
    assert run_cli("say", "hi", "--temperature", "-1").returncode == 2


def test_say_then_transcribe(tmp_path, tiny_en, capsys):
    out = tmp_path / "speech.flac"
    assert main(["say", HARVARD, "-o", str(out), "--model", "system", "--voice", "flite:rms"]) == 0
    assert main(["transcribe", str(out), "--reference", HARVARD]) == 0
    captured = capsys.readouterr()
    assert "dark blue background" in captured.out.lower()
    assert "word error rate against the reference: 0.000" in captured.err


def test_say_reads_stdin(tmp_path):
    out = tmp_path / "stdin.wav"
    r = run_cli("say", "-", "-o", str(out), "--model", "system", stdin="Rice is often served in round bowls.")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 20000


def test_failures_are_one_line_with_status_1(tmp_path):
    codec = ["train", "codec", "--data", str(tmp_path), "-o", str(tmp_path / "run")]
    for args in (
        ["say", "hello", "--model", "system", "--voice", "nobody:here", "-o", str(tmp_path / "x.wav")],
        ["say", "   ", "-o", str(tmp_path / "x.wav")],
        ["say", "-o", str(tmp_path / "x.wav")],
        ["say", "hello", "--model", "system", "-o", str(tmp_path / "x.mp4")],
        ["say", "hello", "--model", "system", "--int8", "-o", str(tmp_path / "x.wav")],
        ["say", "hello", "--model", "system", "--tune-steps", "5", "-o", str(tmp_path / "x.wav")],
        ["voices", "--system", "--rates"],
        ["say", "hello", "--model", str(tmp_path), "-o", str(tmp_path / "x.wav")],
        ["transcribe", str(tmp_path / "missing.wav")],
        ["whisper", "no-such-model"],
        ["average", str(tmp_path / "missing.model"), str(tmp_path / "missing.model"), "-o", str(tmp_path / "a.model")],
        ["train", "s2a", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--dropout", "1.5"],
        ["train", "codec", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--dropout", "0.1"],
        ["train", "s2a", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--depth", "0"],
        ["train", "vq", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--depth", "2"],
        ["train", "s2a", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--codebook-weights", "2,x,1,1"],
        ["train", "s2a", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--codebook-weights", "2,0,1,1"],
        ["train", "s2a", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--codebook-weights", "2,1"],
        ["train", "t2s", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--codebook-weights", "2,1,1,1"],
        ["train", "t2s-parallel", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--phonemes"],
        ["train", "s2a-parallel", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--token-noise", "0.2"],
        [
            "train",
            "s2a-parallel",
            "--data",
            str(tmp_path),
            "-o",
            str(tmp_path / "run"),
            "--phonemes",
            "--token-noise",
            "1",
        ],
        [*codec, "--disc-warmup", "100"],
        [*codec, "--adversarial", "--disc-lr-scale", "0"],
        [*codec, "--adversarial", "--disc-warmup", "-1"],
        [*codec, "--adversarial", "--decoder-only"],
        ["train", "s2a", "--data", str(tmp_path), "-o", str(tmp_path / "run"), "--decoder-only"],
        ["prepare", "corpus", "-o", str(tmp_path / "c"), "--perturbed-voices", "-3"],
        ["say", "hello", "--model", "system", "--voice", "flite:slt~q1.1", "-o", str(tmp_path / "x.wav")],
    ):
        r = run_cli(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.startswith("whisperspeech: error: ") and r.stderr.count("\n") == 1, r.stderr


def test_average_writes_the_mean_of_one_model_s_exports(tiny_bundle, tmp_path):
    from whisperspeech.checkpoints import load_model, save_model, trained_steps
    import torch

    t2s = load_model(tiny_bundle / "t2s.model")
    save_model(t2s, tmp_path / "a.model", step=100)
    with torch.no_grad():
        for p in t2s.parameters():
            p.add_(1.0)
    save_model(t2s, tmp_path / "b.model", step=200)
    out = tmp_path / "avg.model"
    assert main(["average", str(tmp_path / "a.model"), str(tmp_path / "b.model"), "-o", str(out), "--half"]) == 0
    avg, first = load_model(out), load_model(tmp_path / "a.model")
    assert all(torch.allclose(p, q + 0.5, atol=2e-3, rtol=2e-3) for p, q in zip(avg.parameters(), first.parameters()))
    assert trained_steps(out) == 200
    from whisperspeech.checkpoints import load_export  # the model and its record from one read

    assert load_export(out)[1] == {"step": 200, "averaged_steps": [100, 200]}
    r = run_cli("average", str(tmp_path / "a.model"), str(tiny_bundle / "s2a.model"), "-o", str(tmp_path / "bad.model"))
    assert r.returncode == 1 and "average exports of one model" in r.stderr and not (tmp_path / "bad.model").exists()


def test_say_with_a_bundle_from_argument_file_and_stdin(tiny_bundle, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("Rice is often served in round bowls.")
    outs = []
    for i, (args, stdin) in enumerate(
        [(["Rice is often served in round bowls."], None), (["-f", str(text)], None), (["-"], text.read_text())]
    ):
        out = tmp_path / f"out{i}.flac"
        r = run_cli(
            "say",
            *args,
            "--model",
            str(tiny_bundle),
            "--voice",
            "flite:rms",
            "--seed",
            "3",
            "-o",
            str(out),
            stdin=stdin,
        )
        assert r.returncode == 0, r.stderr
        assert "real-time factor" in r.stderr and "voice flite:rms" in r.stderr
        outs.append(sf.read(out)[0])
    assert len(outs[0]) > 24000 and all(np.array_equal(outs[0], o) for o in outs[1:])  # same text, same seed
    r = run_cli("say", "Hello.", "--model", str(tiny_bundle), "-o", str(tmp_path / "default.wav"))
    assert r.returncode == 0 and "voice flite:slt (default) at" in r.stderr, r.stderr  # the bundle's first voice, named
    rate = load_bundle(tiny_bundle).rates["flite:slt"]
    assert f"at {rate:g} characters per second" in r.stderr  # and its own rate


def test_say_with_int8_weights(tiny_bundle, tmp_path):
    out = tmp_path / "int8.wav"
    r = run_cli(
        "say", HARVARD, "--model", str(tiny_bundle), "--voice", "flite:rms", "--seed", "3", "--int8", "-o", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert f"speaking with the model bundle {tiny_bundle}, int8 weights" in r.stderr
    wav, sr = sf.read(out)
    assert sr == 24000 and len(wav) > 24000 and np.isfinite(wav).all()


def test_say_tunes_only_on_a_recording_and_a_parallel_s2a(tiny_bundle, tmp_path):
    "`say --tune-steps` refuses a named voice and an S2A it cannot tune, in one line that says what to do."
    wav = tmp_path / "me.wav"
    sf.write(wav, speak_system(HARVARD, "flite:kal", sr=16000).numpy(), 16000)
    for voice, message in (("flite:slt", "give one as --voice recording.wav"), (str(wav), "for a parallel S2A")):
        r = run_cli(
            "say", "hi", "--model", str(tiny_bundle), "--voice", voice, "--tune-steps", "3", "-o", str(wav), "--quiet"
        )
        assert r.returncode == 1 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_say_sampling_options_reach_the_decoder(tiny_bundle, tmp_path):
    "Greedy speech does not depend on the seed, and top-k 1 is greedy; sampled speech does."

    def say(name, *opts):
        assert main(["say", HARVARD, "--model", str(tiny_bundle), "--quiet", "-o", str(tmp_path / name), *opts]) == 0
        return sf.read(tmp_path / name)[0]

    greedy = say("g1.wav", "--temperature", "0", "--seed", "1")
    assert np.array_equal(greedy, say("g2.wav", "--temperature", "0", "--seed", "2"))
    assert np.array_equal(greedy, say("k1.wav", "--top-k", "1", "--seed", "5"))
    assert not np.array_equal(say("s1.wav", "--seed", "1"), say("s2.wav", "--seed", "2"))


def test_say_streams_wav_to_stdout(tiny_bundle, tmp_path):
    script = Path(sys.executable).parent / "whisperspeech"
    r = subprocess.run(
        [
            str(script),
            "say",
            "Hello there. How are you?",
            "--model",
            str(tiny_bundle),
            "-o",
            "-",
            "--seed",
            "1",
            "--quiet",
        ],
        capture_output=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""  # --quiet: nothing but audio
    data = r.stdout
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and data[36:40] == b"data"
    n = len(data)
    fixed = data[:4] + (n - 8).to_bytes(4, "little") + data[8:40] + (n - 44).to_bytes(4, "little") + data[44:]
    wav, sr = sf.read(io.BytesIO(fixed))
    assert sr == 24000 and len(wav) > 24000
    # the same speech as written to a file
    out = tmp_path / "same.wav"
    assert (
        run_cli(
            "say", "Hello there. How are you?", "--model", str(tiny_bundle), "-o", str(out), "--seed", "1"
        ).returncode
        == 0
    )
    assert np.allclose(sf.read(out)[0], wav, atol=2 / 32768)


def test_voices_lists_the_bundle_voices(tiny_bundle):
    r = run_cli("voices", "--model", str(tiny_bundle))
    assert r.returncode == 0 and r.stdout.split() == ["flite:slt", "flite:rms"]
    r = run_cli("voices", "--system")
    assert r.returncode == 0 and "flite:slt" in r.stdout.split()
    r = run_cli("voices", "--model", str(tiny_bundle), "--rates")  # each voice's own rate, as the bundle records it
    rates = json.loads((tiny_bundle / "rates.json").read_text())["cps"]
    assert r.returncode == 0 and [line.split("\t") for line in r.stdout.splitlines()] == [
        [v, f"{rates[v]:.1f}"] for v in ("flite:slt", "flite:rms")
    ]


def test_eval_reports_a_table_and_json(tiny_bundle, tmp_path, tiny_en):
    sentences = tmp_path / "s.txt"
    sentences.write_text("The soup needs more salt.\nCould you pass me the scissors?\n")
    ref = tmp_path / "ref.wav"
    sf.write(ref, speak_system("We should take the long road home.", "flite:awb", sr=16000).numpy(), 16000)
    out = tmp_path / "report.json"
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny_bundle),
                "--sentences",
                str(sentences),
                "--voice",
                "flite:slt",
                "--voice",
                str(ref),
                "--clone",
                "flite:kal16",
                "--json",
                str(out),
                "--quiet",
                "--top-k",
                "50",
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["temperature"] == {"t2s": 0.7, "s2a": 0.7} and report["top_k"] == 50  # the bundle records none
    assert report["s2a_guidance"] == 1.0  # its S2A decodes unguided
    slt, cloned, kal = report["voices"]
    # a system voice the model lacks, cloned from its recording: scored like a model voice, teacher included
    assert kal["cloned"] and not slt["cloned"] and kal["cps"] == 15 and 0 <= kal["teacher_wer"] < 0.5
    assert (
        0 <= kal["nearest_own"] <= 1
        and kal["nearest_model_voice"] in ("flite:slt", "flite:rms")
        and kal["duration_ratio_min"] > 0
    )
    assert report["summary"]["mean_teacher_wer"] == slt["teacher_wer"]  # the model's voices only
    assert kal["clone_seconds"] > 0 and "clone_seconds" not in cloned and report["clone_tune_steps"] == 0
    assert slt["utterances"] == 2 and 0 <= slt["teacher_wer"] < 0.5 and slt["wer"] >= 0  # random weights: noise
    assert 0 <= slt["nearest_own"] <= 1 and slt["duration_ratio_min"] > 0 and slt["rtf"] > 0
    assert -1 <= cloned["similarity"] <= 1 and cloned["nearest_model_voice"] in ("flite:slt", "flite:rms")
    assert (
        report["cps"] is None
        and slt["cps"] == load_bundle(tiny_bundle).rates["flite:slt"] != 15
        and cloned["cps"] == 15
    )
    assert "mean_teacher_wer" in report["summary"]
    # DNSMOS (the eval extras are installed with the dev ones): the teacher's speech sounds better than random weights'
    assert report["quality"] and 1 <= slt["dnsmos"] < slt["teacher_dnsmos"] <= 5 and 1 <= cloned["p808"] <= 5
    assert "teacher_dnsmos" not in cloned and set(slt["clips"][0]) >= {"dnsmos", "p808", "teacher_dnsmos"}
    assert report["summary"]["mean_dnsmos"] == sum(r["dnsmos"] for r in report["voices"]) / 3
    assert report["summary"]["mean_wer_model_voices"] == slt["wer"]  # the cloned voice left out of it
    lo, hi = slt["wer_ci95"]  # the interval holds its WER; per-utterance edits add up to it
    assert (
        lo <= slt["wer"] <= hi
        and sum(c["edits"] for c in slt["clips"]) / sum(c["words"] for c in slt["clips"]) == slt["wer"]
    )
    lo, hi = report["summary"]["mean_wer_ci95"]
    assert lo <= report["summary"]["mean_wer"] <= hi


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give at least one --voice or --clone"),
        (["--voice", "flite:awb"], "flite:awb is not one of the model's voices (flite:slt, flite:rms): to clone it"),
        (["--clone", "flite:slt"], "flite:slt is one of the model's own voices"),
        (["--clone", "no-such-recording.wav"], "a clone is of a system voice"),
    ],
)
def test_eval_says_which_voices_it_cannot_score(tiny_bundle, tmp_path, args, message):
    sentences = tmp_path / "s.txt"
    sentences.write_text("The soup needs more salt.\n")
    r = run_cli("eval", "--model", str(tiny_bundle), "--sentences", str(sentences), "--quiet", *args)
    assert r.returncode == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_sigterm_stops_prepare_and_its_worker_processes(tmp_path):
    "A SIGTERM (a job scheduler's stop) ends `prepare --workers 2` at once, workers included, with no half-written shard."
    import os
    import signal
    import time

    ws = str(Path(sys.executable).parent / "whisperspeech")
    out, err = tmp_path / "corpus", tmp_path / "stderr.txt"
    with open(err, "w") as stderr:  # a file, not a pipe: workers left running would hold a pipe open
        proc = subprocess.Popen(
            [ws, "prepare", "corpus", "-o", str(out), "--utterances", "400", "--workers", "2", "--quiet"],
            stderr=stderr,
        )
    children_file = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline, children = time.monotonic() + 60, []
    while time.monotonic() < deadline and len(children) < 2:  # the two workers (and a resource tracker) started
        time.sleep(0.2)
        children = children_file.read_text().split() if children_file.exists() else []
    assert len(children) >= 2, "the workers never started"
    while time.monotonic() < deadline and not list(out.glob(".*.tmp-*")):
        time.sleep(0.05)
    assert list(out.glob(".*.tmp-*")), "no shard was being written"  # stop it mid-shard
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM, err.read_text()
    deadline = time.monotonic() + 10
    alive = lambda: [c for c in children if Path(f"/proc/{c}").exists() and "Z" not in _state(c)]
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(), f"workers left running: {alive()}"
    assert not list(out.glob(".*.tmp-*")), "a half-written shard was left behind"
    assert not [p for p in out.glob("*.tar") if not (out / p.name.replace(".tar", ".json")).exists()]
    assert os.listdir(out)  # it had begun (spec, licences)


def _state(pid) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_serve_options_reach_the_server_config(monkeypatch, tmp_path):
    "`serve`'s limits, tuning ones included, become the `ServerConfig` the server starts with."
    import whisperspeech.server

    started = {}
    monkeypatch.setattr(whisperspeech.server, "serve", lambda config, host, port: started.update(config=config))
    argv = [
        "serve",
        "--data-dir",
        str(tmp_path),
        "--max-queue",
        "3",
        "--max-tune-steps",
        "40",
        "--max-tuned-voices",
        "2",
    ]
    main(argv)
    c = started["config"]
    assert (c.max_queue, c.max_tune_steps, c.max_tuned_voices, c.data_dir) == (3, 40, 2, tmp_path)
