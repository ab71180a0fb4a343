"""The torchaudio guard: works around a torchaudio whose extension cannot load, and does nothing otherwise."""

import subprocess
import sys
import textwrap


def run_python(code: str, path: str | None = None) -> subprocess.CompletedProcess:
    env_path = f"import sys; sys.path.insert(0, {path!r})\n" if path else ""
    return subprocess.run([sys.executable, "-c", env_path + textwrap.dedent(code)], capture_output=True, text=True)


def test_real_torchaudio_imports_and_its_python_parts_work():
    r = run_python("""
        import math, torch
        from whisperspeech.compat import import_torchaudio
        ta = import_torchaudio()
        t = torch.arange(48000) / 48000
        x = torch.sin(2 * math.pi * 1000 * t)
        y = ta.functional.resample(x, 48000, 16000)
        spectrum = torch.fft.rfft(y).abs()
        assert y.shape == (16000,) and int(spectrum.argmax()) == 1000, (y.shape, int(spectrum.argmax()))
        mel = ta.transforms.MelSpectrogram(16000, n_mels=40)(y)
        assert mel.shape[0] == 40
        import encodec, vocos  # both import torchaudio at import time
        print("ok", getattr(ta, "whisperspeech_without_extension", False))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")


def test_a_torchaudio_that_imports_normally_is_left_alone(tmp_path):
    (tmp_path / "torchaudio").mkdir()
    (tmp_path / "torchaudio" / "__init__.py").write_text("MARK = 'native'\n")
    r = run_python(
        """
        from whisperspeech.compat import import_torchaudio
        ta = import_torchaudio()
        print(ta.MARK, hasattr(ta, "whisperspeech_without_extension"))
    """,
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["native", "False"]


def test_other_import_failures_are_not_hidden(tmp_path):
    (tmp_path / "torchaudio").mkdir()
    (tmp_path / "torchaudio" / "__init__.py").write_text(
        "raise OSError('libcuda.so.1: cannot open shared object file')\n"
    )
    r = run_python(
        """
        from whisperspeech.compat import import_torchaudio
        try: import_torchaudio()
        except OSError as e: print("raised", e)
    """,
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("raised libcuda.so.1")
