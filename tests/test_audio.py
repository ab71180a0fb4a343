import numpy as np
import pytest
import soundfile as sf
import torch

from whisperspeech.audio import load_audio, save_audio
from whisperspeech.core import WhisperSpeechError


def tone(freq=440, sr=24000, seconds=1.0, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wav: torch.Tensor, sr: int) -> float:
    spectrum = torch.fft.rfft(wav).abs()
    return float(spectrum.argmax()) * sr / wav.shape[0]


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_loads_every_format_as_mono_float32_at_the_requested_rate(tmp_path, fmt, ext):
    stereo = np.stack([tone(440, 44100), tone(440, 44100)], axis=1)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, stereo, 44100, format=fmt)
    wav = load_audio(path, 16000)
    assert wav.dtype == torch.float32 and wav.ndim == 1
    assert abs(wav.shape[0] - 16000) <= 1200  # mp3 adds encoder padding
    assert abs(peak_hz(wav, 16000) - 440) < 3


def test_loads_from_bytes(tmp_path):
    save_audio(tmp_path / "a.wav", tone(), 24000)
    wav = load_audio((tmp_path / "a.wav").read_bytes(), 24000)
    assert wav.shape == (24000,)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_save_round_trip(tmp_path, ext):
    x = torch.from_numpy(tone(300, 24000))
    path = save_audio(tmp_path / f"x.{ext}", x, 24000)
    back = load_audio(path, 24000)
    assert torch.allclose(back, x, atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == [f"x.{ext}"]  # no temporary file left behind


def test_save_rejects_unknown_extension(tmp_path):
    with pytest.raises(WhisperSpeechError, match=r"\.wav or \.flac"):
        save_audio(tmp_path / "x.xyz", tone(), 24000)


def test_errors_name_the_file_and_the_fix(tmp_path):
    (tmp_path / "text.wav").write_text("hello, I am not audio")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    cases = {
        "missing.wav": "not found",
        "text.wav": "cannot decode",
        "empty.wav": "no audio samples",
        "silent.wav": "is silent",
    }
    for name, message in cases.items():
        with pytest.raises(WhisperSpeechError, match=message) as e:
            load_audio(tmp_path / name, 16000)
        assert "\n" not in str(e.value)
    assert load_audio(tmp_path / "silent.wav", 16000, allow_silence=True).abs().max() == 0
