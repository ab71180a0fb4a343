"""Probe: would a codec decoder gain naturalness from a harmonic source, before any training?

Speaks held-out sentences with the corpus voices, resynthesizes them through the codec, and scores with DNSMOS
(P.835 overall, signal; P.808) the teachers' audio, the resynthesis, and spectra built at the codec's own STFT
resolution in which, in voiced frames (Praat's F0 of the teachers' audio), the phases are those of a pulse train at
that F0 (`codec.pulse_phased`, what a `harmonic` codec decodes with: every harmonic in phase at each pulse, advancing
coherently from frame to frame) instead of the decoder's: with the decoder's magnitudes, at the teachers' F0, at the
F0 of the resynthesis, at an F0 1% off and (`--f0-from`) at the F0 that a harmonic codec predicts from the codes; with
the magnitudes shaped by the pulse train's harmonic comb (each frame's energy kept); and with the teachers'
magnitudes (what pulse-train phases cost at best).

    .venv/bin/python scripts/research/codec_source_probe.py whisperspeech/voice/codec.model \
        --sentences datasets/validation_sentences_en.txt --per-voice 3 \
        --voices festival:slt-hts,flite:awb,flite:slt,piper:joe --json source.json
"""

import sys

import torch

from heldout import dnsmos_of_variants, heldout_parser
from whisperspeech.checkpoints import load_model
from whisperspeech.codec import istft_head_polar, pitch_targets, pulse_phased, pulse_train, stft_frames

SCORES = ("overall", "signal", "p808")


def combed(spec: torch.Tensor, source: torch.Tensor, bins: int, power: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Magnitudes and phases of `spec` (batch, freq, frames), its magnitudes times the pulse train's comb `|source|`
    raised to `power` (normalized to mean square 1 over the lowest `bins` bins, where its harmonics lie), each frame's
    energy there kept."""
    mag, comb = spec.abs()[:, :bins], source.abs()[:, :bins]
    comb = comb / comb.pow(2).mean(1, keepdim=True).sqrt().clamp(min=1e-9)
    out = mag * comb.pow(power)
    out = out * (mag.pow(2).sum(1, keepdim=True) / out.pow(2).sum(1, keepdim=True).clamp(min=1e-12)).sqrt()
    return torch.cat([out, spec.abs()[:, bins:]], 1), spec.angle()


def variants(codec, wav: torch.Tensor, predictor=None) -> dict:
    "The teachers' audio, its resynthesis and the pulse-phase variants, each (samples,) at 24 kHz."
    c = codec.config
    win = torch.hann_window(c.n_fft)
    hop, n = c.hop_length, wav.shape[0]
    with torch.no_grad():
        latents = codec.quantizer.decode(codec.encode(wav[None]).transpose(0, 1))
        mag, phase = istft_head_polar(codec.head, codec.decoder(latents))
        head = torch.polar(mag, phase)
        frames = head.shape[-1]
        teacher = stft_frames(torch.nn.functional.pad(wav[None], (0, frames * hop - n)), c.n_fft, hop, win)
        f0 = pitch_targets(wav[None], c)[:, :frames]
        out = {"teachers": wav, "resynthesis": codec.head.istft(head)[0, :n]}
        tracks = {
            "": f0,
            " at the resynthesis's F0 (Praat)": pitch_targets(out["resynthesis"][None], c)[:, :frames],
            " at an F0 1% off": f0 * 1.01,
        }
        if predictor is not None:
            tracks[" at the predicted F0"] = predictor.harmonic_pitch.f0(latents)
        for name, track in tracks.items():
            out["decoder magnitudes, pulse phases" + name] = codec.head.istft(pulse_phased(mag, phase, track, c, win))[
                0, :n
            ]
        source = stft_frames(pulse_train(f0, hop, c.sample_rate, c.harmonic_max_hz), c.n_fft, hop, win)
        bins = int(c.harmonic_max_hz / c.sample_rate * c.n_fft)
        out["decoder magnitudes combed (power 0.5), pulse phases"] = codec.head.istft(
            pulse_phased(*combed(head, source, bins, 0.5), f0, c, win)
        )[0, :n]
        out["teachers' magnitudes, pulse phases"] = codec.head.istft(
            pulse_phased(teacher.abs(), teacher.angle(), f0, c, win)
        )[0, :n]
    return out


def main(argv=None):
    ap = heldout_parser(__doc__, "codec", "codec checkpoint (.model)", per_voice=3)
    ap.add_argument("--f0-from", metavar="CODEC", help="also: phases at the F0 that this harmonic codec predicts")
    args = ap.parse_args(argv)
    codec = load_model(args.codec, kind="codec")
    predictor = load_model(args.f0_from, kind="codec") if args.f0_from else None
    return dnsmos_of_variants(args, lambda wav: variants(codec, wav, predictor=predictor), SCORES)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
