import subprocess
import sys
from pathlib import Path

from whisperspeech.cli import main

HARVARD = "Glue the sheet to the dark blue background."


def run_cli(*args, stdin=None):
    "The installed console script, as a user runs it."
    script = Path(sys.executable).parent / "whisperspeech"
    return subprocess.run([str(script), *args], input=stdin, capture_output=True, text=True)


def test_help_and_usage_errors():
    assert run_cli("--help").returncode == 0
    for cmd in ["say", "voices", "whisper", "transcribe"]:
        r = run_cli(cmd, "--help")
        assert r.returncode == 0 and "usage: whisperspeech" in r.stdout
    assert run_cli().returncode == 2
    assert run_cli("say").returncode == 2  # missing text


def test_say_then_transcribe(tmp_path, tiny_en, capsys):
    out = tmp_path / "speech.flac"
    assert main(["say", HARVARD, "-o", str(out), "--voice", "flite:rms"]) == 0
    assert main(["transcribe", str(out), "--reference", HARVARD]) == 0
    captured = capsys.readouterr()
    assert "dark blue background" in captured.out.lower()
    assert "word error rate against the reference: 0.000" in captured.err


def test_say_reads_stdin(tmp_path):
    out = tmp_path / "stdin.wav"
    r = run_cli("say", "-", "-o", str(out), stdin="Rice is often served in round bowls.")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 20000


def test_failures_are_one_line_with_status_1(tmp_path):
    for args in (["say", "hello", "--voice", "nobody:here", "-o", str(tmp_path / "x.wav")],
                 ["say", "   ", "-o", str(tmp_path / "x.wav")],
                 ["say", "hello", "-o", str(tmp_path / "x.mp4")],
                 ["transcribe", str(tmp_path / "missing.wav")],
                 ["whisper", "no-such-model"]):
        r = run_cli(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.startswith("whisperspeech: error: ") and r.stderr.count("\n") == 1, r.stderr
