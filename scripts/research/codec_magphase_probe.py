"""Probe: where a codec's resynthesis loses naturalness, in its STFT magnitudes or in its phases.

Speaks held-out sentences with the corpus voices, resynthesizes them through the codec, and scores with DNSMOS
(P.835 overall, signal, background; P.808) the teachers' audio, the resynthesis, and signals built at the codec's own
STFT resolution (its ISTFT head's n_fft and hop): the teachers' magnitudes with the resynthesis's phases and the
reverse, the teachers' magnitudes with phases found by Griffin-Lim, and the teachers' log-mel frames (the codec's
input) inverted to magnitudes and given Griffin-Lim phases; and two cheap fixes of the resynthesis: the magnitudes its
ISTFT head predicts given Griffin-Lim phases started from the head's own, and its magnitudes sharpened (raised to a
power, each frame's energy kept).

    .venv/bin/python scripts/research/codec_magphase_probe.py whisperspeech/voice/codec.model \
        --sentences datasets/validation_sentences_en.txt --per-voice 3 \
        --voices festival:slt-hts,flite:awb,flite:slt,piper:joe --json magphase.json
"""

import sys

import torch

from heldout import dnsmos_of_variants, heldout_parser
from whisperspeech.checkpoints import load_model
from whisperspeech.codec import torchaudio

SCORES = ("overall", "signal", "background", "p808")


def head_spectrogram(codec, codes: torch.Tensor) -> torch.Tensor:
    "The complex spectrogram (freq, frames) that the codec's ISTFT head predicts for `codes` (1, Q, frames), before its ISTFT."
    x = codec.head.out(codec.decoder(codec.quantizer.decode(codes.transpose(0, 1)))).transpose(1, 2)[0]
    magnitude, phase = x.chunk(2, dim=0)
    return magnitude.exp().clip(max=1e2) * torch.exp(1j * phase)


def griffin_lim_from(spec: torch.Tensor, stft, istft, iters: int = 32) -> torch.Tensor:
    "Griffin-Lim on the magnitudes of complex spectrogram `spec`, starting from its phases."
    magnitude, x = spec.abs(), istft(spec)
    for _ in range(iters):
        x = istft(magnitude * torch.exp(1j * stft(x)[..., : magnitude.shape[-1]].angle()))
    return x


def sharpened(spec: torch.Tensor, power: float) -> torch.Tensor:
    "`spec` with its magnitudes raised to `power` and scaled back to each frame's energy; phases kept."
    magnitude = spec.abs()
    energy = magnitude.pow(2).sum(0, keepdim=True)
    out = magnitude.pow(power)
    out = out * (energy / out.pow(2).sum(0, keepdim=True).clamp(min=1e-12)).sqrt()
    return out * torch.exp(1j * spec.angle())


def variants(codec, wav: torch.Tensor, griffin_lim_iters: int = 64) -> dict:
    "The teachers' audio, its resynthesis and the magnitude / phase swaps, each (samples,) at 24 kHz."
    c = codec.config
    win = torch.hann_window(c.n_fft)
    stft = lambda x: torch.stft(x, c.n_fft, c.hop_length, window=win, return_complex=True)
    istft = lambda s: torch.istft(s, c.n_fft, c.hop_length, window=win, length=wav.shape[0])
    with torch.no_grad():
        codes = codec.encode(wav[None])
        rec, head = codec.decode(codes)[0, : wav.shape[0]], head_spectrogram(codec, codes)
    t, r = stft(wav), stft(rec)
    griffin_lim = torchaudio.transforms.GriffinLim(
        n_fft=c.n_fft, hop_length=c.hop_length, power=1, n_iter=griffin_lim_iters
    )
    mel = torchaudio.transforms.MelSpectrogram(
        c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length, n_mels=c.n_mels, power=1
    )
    inverse_mel = torchaudio.transforms.InverseMelScale(c.n_fft // 2 + 1, c.n_mels, c.sample_rate)
    phase = lambda s: torch.exp(1j * s.angle())
    fit = lambda x: x[: wav.shape[0]]
    return dict(
        teacher=wav,
        codec=rec,
        teacher_magnitude_codec_phase=istft(t.abs() * phase(r)),
        codec_magnitude_teacher_phase=istft(r.abs() * phase(t)),
        teacher_magnitude_griffin_lim=fit(griffin_lim(t.abs())),
        teacher_mel_inverted_griffin_lim=fit(griffin_lim(inverse_mel(mel(wav)))),
        head_magnitude_griffin_lim=griffin_lim_from(head, stft, istft),
        codec_sharpened_1_2=istft(sharpened(r, 1.2)),
        codec_sharpened_1_4=istft(sharpened(r, 1.4)),
    )


def main(argv=None):
    ap = heldout_parser(__doc__, "codec", "codec checkpoint (.model)", per_voice=3)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    codec = load_model(args.codec, kind="codec")
    return dnsmos_of_variants(args, lambda wav: variants(codec, wav), SCORES)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
