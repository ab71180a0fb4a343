"""Judge an acoustic codec by what matters: can Whisper still understand the reconstruction, and does
it still sound like the same speaker?

Speaks held-out sentences (datasets/eval_sentences_en.txt: written for evaluation, in no training
text) with the corpus voices, encodes and decodes them with the codec, and reports per voice the
Whisper word error rate of the original and of the reconstruction, the resemblyzer cosine
similarity between the two, the similarity of each to the voice's reference (what `whisperspeech eval` scores a
voice by: the mean embedding of its reference clips; for a cloned voice, the ceiling the codec sets), and (where
the eval extras are installed) the DNSMOS quality of both: P.835 overall and P.808, how natural each sounds. Also
how stable its codes are: the share of frames, per codebook, whose code stays the same when the audio is stored as
16-bit PCM (as the corpus keeps it), a change no one can hear. Codes that move under it are noise S2A is asked to
predict. `--codes-only` measures that alone (seconds). A `harmonic` codec also reports how well it predicts the
audio's F0 (voicing errors, gross errors over 20%, against Praat's pitch); `--true-f0` decodes with the audio's own
F0 instead: the filter's ceiling under a perfect F0 predictor.

    .venv/bin/python scripts/research/eval_codec.py runs/codec/codec.model --per-voice 6 --json codec-eval.json
    .venv/bin/python scripts/research/eval_codec.py whisperspeech/voice/codec.model --per-voice 30 \
        --voices festival:slt-hts,flite:awb,flite:slt,piper:joe      # every evaluation sentence, four voices
"""

import json
import sys
import time
from pathlib import Path

import torch

from heldout import heldout_parser, heldout_utterances
from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.audio import resample
from whisperspeech.checkpoints import load_model
from whisperspeech.codec import pitch_targets
from whisperspeech.evaluate import voice_reference
from whisperspeech.quality import dnsmos, dnsmos_available
from whisperspeech.speaker import speaker_embedding
from whisperspeech.whisper_models import load_whisper


def code_stability(codec, wav: torch.Tensor) -> list[float]:
    "Per codebook, the share of frames coded alike from `wav` and from `wav` rounded to 16-bit PCM."
    pcm16 = torch.round(wav.clamp(-1, 1) * 32767) / 32767
    with torch.no_grad():
        a, b = codec.encode(wav[None])[0], codec.encode(pcm16[None])[0]
    return (a == b).float().mean(-1).tolist()


def print_stability(name: str, kept) -> None:
    print(f"{name:18s} codes kept under 16-bit PCM: " + " ".join(f"{x:.3f}" for x in kept), flush=True)


def stability_report(codec, args) -> list[float]:
    "Mean code stability per codebook over the held-out utterances, printed per voice."
    per_voice = []
    for voice, utterances in heldout_utterances(args, sr=24000):
        per_voice.append(torch.tensor([code_stability(codec, wav) for _, wav in utterances]).mean(0))
        print_stability(voice, per_voice[-1])
    mean = torch.stack(per_voice).mean(0).tolist()
    print_stability("mean", mean)
    return mean


def f0_error(predicted: torch.Tensor, true: torch.Tensor) -> list[float]:
    "Share of frames voiced in one F0 track and not the other; of frames voiced in both, share more than 20% off."
    voiced_p, voiced_t = predicted > 0, true > 0
    both = voiced_p & voiced_t
    gross = ((predicted[both] / true[both] - 1).abs() > 0.2).float().mean() if both.any() else torch.tensor(0.0)
    return [float((voiced_p != voiced_t).float().mean()), float(gross)]


def main(argv=None):
    ap = heldout_parser(__doc__, "codec", "codec checkpoint (.model)", per_voice=5)
    ap.add_argument("--whisper", default="tiny.en")
    ap.add_argument("--codes-only", action="store_true", help="only the code stability (no decoding, no ASR)")
    ap.add_argument(
        "--unquantized",
        action="store_true",
        help="decode the encoder's latents before quantization: what the decoder gives whatever the codes",
    )
    ap.add_argument(
        "--true-f0",
        action="store_true",
        help="a harmonic codec: decode with the audio's own F0 (Praat), not the F0 it predicts from the codes",
    )
    ap.add_argument(
        "--harmonic-max-hz",
        type=float,
        help="a harmonic codec: its pulse train's highest harmonic (Hz; above it the decoder's own phases) instead of its config's",
    )
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    codec = load_model(args.codec, kind="codec")
    harmonic = codec.config.harmonic
    if args.harmonic_max_hz is not None:
        if not harmonic:
            raise SystemExit(f"--harmonic-max-hz is for a harmonic codec; {args.codec} has no harmonic source")
        codec.config.harmonic_max_hz = args.harmonic_max_hz
    if args.true_f0 and not harmonic:
        raise SystemExit(f"--true-f0 is for a harmonic codec; {args.codec} has no harmonic source")
    if args.codes_only:
        stability = stability_report(codec, args)
        if args.json:
            Path(args.json).write_text(json.dumps(dict(codec=args.codec, code_stability=stability), indent=1))
        return stability
    asr = load_whisper(args.whisper)
    quality = dnsmos_available()
    rows, t_codec, seconds = [], 0.0, 0.0
    for voice, utterances in heldout_utterances(args, sr=24000):
        refs, orig, recon, sims, kept, mos, f0_errors = [], [], [], [], [], [], []
        target, to_target = voice_reference(voice), []
        for text, wav in utterances:
            kept.append(code_stability(codec, wav))
            t0 = time.perf_counter()
            with torch.no_grad():
                if args.unquantized:
                    latents = codec._latents(wav[None])
                else:
                    latents = codec.quantizer.decode(codec.encode(wav[None]).transpose(0, 1))
                if harmonic:
                    f0 = pitch_targets(wav[None], codec.config)
                    rec = codec.decode_latents(latents, f0 if args.true_f0 else None)
                    f0_errors.append(f0_error(codec.harmonic_pitch.f0(latents)[0], f0[0]))
                else:
                    rec = codec.decode_latents(latents)
                rec = rec[0, : wav.shape[0]]
            t_codec += time.perf_counter() - t0
            seconds += wav.shape[0] / 24000
            refs.append(text)
            orig.append(transcribe(asr, resample(wav, 24000, 16000)))
            recon.append(transcribe(asr, resample(rec, 24000, 16000)))
            a, b = (speaker_embedding(resample(x, 24000, 16000), "resemblyzer") for x in (wav, rec))
            sims.append(float(torch.nn.functional.cosine_similarity(a, b, dim=0)))
            to_target.append([float(torch.nn.functional.cosine_similarity(x, target, dim=0)) for x in (a, b)])
            if quality:
                mos.append([dnsmos(x, 24000)[k] for x in (wav, rec) for k in ("overall", "p808")])
        rows.append(
            dict(
                voice=voice,
                wer_original=word_error_rate(refs, orig),
                wer_codec=word_error_rate(refs, recon),
                similarity=sum(sims) / len(sims),
                reference_similarity_original=sum(t[0] for t in to_target) / len(to_target),
                reference_similarity_codec=sum(t[1] for t in to_target) / len(to_target),
                code_stability=torch.tensor(kept).mean(0).tolist(),
                examples=list(zip(refs, recon))[:2],
            )
        )
        r = rows[-1]
        if harmonic:
            r.update(dict(zip(("f0_voicing_error", "f0_gross_error"), torch.tensor(f0_errors).mean(0).tolist())))
        if quality:
            m = torch.tensor(mos).mean(0).tolist()
            r.update(dnsmos_original=m[0], p808_original=m[1], dnsmos_codec=m[2], p808_codec=m[3])
        print(
            f"{voice:18s} WER original {r['wer_original']:.3f}  codec {r['wer_codec']:.3f}  similarity {r['similarity']:.3f}  "
            f"to reference original {r['reference_similarity_original']:.3f} codec {r['reference_similarity_codec']:.3f}"
            + (
                f"  DNSMOS original {r['dnsmos_original']:.2f} codec {r['dnsmos_codec']:.2f}  "
                f"P.808 original {r['p808_original']:.2f} codec {r['p808_codec']:.2f}"
                if quality
                else ""
            ),
            flush=True,
        )
        print_stability(voice, r["code_stability"])
        if harmonic:
            print(f"{voice:18s} F0: voicing errors {r['f0_voicing_error']:.3f}, gross errors {r['f0_gross_error']:.3f}")
    stability = torch.tensor([r["code_stability"] for r in rows]).mean(0).tolist()
    mean = lambda k: sum(r[k] for r in rows) / len(rows)
    summary = dict(
        wer_original=mean("wer_original"),
        wer_codec=mean("wer_codec"),
        similarity=mean("similarity"),
        reference_similarity_original=mean("reference_similarity_original"),
        reference_similarity_codec=mean("reference_similarity_codec"),
        min_similarity=min(r["similarity"] for r in rows),
        codec_rtf=t_codec / seconds,
        code_stability=stability,
        decoded=("unquantized latents" if args.unquantized else "codes")
        + (" with the audio's F0" if args.true_f0 else ""),
    )
    if harmonic:
        summary.update({k: mean(k) for k in ("f0_voicing_error", "f0_gross_error")})
    if quality:
        summary.update({k: mean(k) for k in ("dnsmos_original", "dnsmos_codec", "p808_original", "p808_codec")})
    print(
        f"{'mean':18s} WER original {summary['wer_original']:.3f}  codec {summary['wer_codec']:.3f}  "
        f"similarity {summary['similarity']:.3f} (min {summary['min_similarity']:.3f}); codec RTF {summary['codec_rtf']:.3f}"
        + (
            f"\n{'':18s} DNSMOS original {summary['dnsmos_original']:.2f} codec {summary['dnsmos_codec']:.2f}  "
            f"P.808 original {summary['p808_original']:.2f} codec {summary['p808_codec']:.2f}"
            if quality
            else ""
        )
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                dict(
                    codec=args.codec,
                    harmonic_max_hz=codec.config.harmonic_max_hz if harmonic else None,
                    summary=summary,
                    voices=rows,
                ),
                indent=1,
            )
        )
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
