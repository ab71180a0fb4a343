"""Judge S2A (with the semantic tokenizer and codec under it) without T2S: resynthesis of held-out speech.

Each held-out utterance (a corpus voice speaking a sentence of datasets/eval_sentences_en.txt) is
turned into semantic tokens by the tokenizer and a resemblyzer embedding of the recording; S2A makes
codec tokens from them and the codec decodes those. Reports per voice Whisper's word error rate of
the original and of the resynthesis, the resemblyzer similarity between the two, and the duration
ratio. What T2S can reach is bounded by this. `--trained-on DATA` measures the same on S2A's own training
samples instead (no original speech there): far better on them than held out means data learned by heart, about
the same means more data is not what it lacks.

A parallel S2A (`s2a-parallel`) is judged the same way; in place of the cross-entropy it reports its training loss
(L1 distance to the true codes' latents, whole utterances) and, per codebook, how many of its codes are the true ones.

Also S2A's teacher-forced cross-entropy on the codec tokens of the same sentences spoken at 24 kHz
(what it trains on): a steadier way to compare checkpoints than the word error rate of one sampled
resynthesis per utterance, also given per codebook with next-code accuracy and the entropy of the predictions (a
lower cross-entropy from less confident predictions is not a sharper model). `--ce-only` measures that alone (no
sampling, no ASR: a minute).

    .venv/bin/python scripts/research/eval_s2a.py runs/s2a/s2a.model --per-voice 2
    .venv/bin/python scripts/research/eval_s2a.py whisperspeech/voice/s2a.model --ce-only --int8   # int8 weights' cost
"""

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

from heldout import ROOT, cross_entropy, heldout_parser, heldout_texts
from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.audio import load_audio, resample
from whisperspeech.checkpoints import load_model
from whisperspeech.codec import CodecVocoder
from whisperspeech.layers import quantize_int8
from whisperspeech.s2a import s2a_generate
from whisperspeech.s2a_parallel import ParallelS2A, parallel_s2a_generate
from whisperspeech.speaker import speaker_embedding
from whisperspeech.system_voices import speak_system
from whisperspeech.vq import encode_audio

VOICE = ROOT / "whisperspeech" / "voice"


def as_corpus_keeps(wav: torch.Tensor, sr: int = 24000) -> torch.Tensor:
    """`wav` after the corpus's 16-bit FLAC round trip: the codes of near-silent frames move under it (see
    eval_codec.py --codes-only), so held-out codes from float audio would not be what S2A trains on."""
    from whisperspeech.corpus import _flac_bytes

    return load_audio(_flac_bytes(wav, sr), sr)  # as the atoks stage reads the corpus


def training_sample(tok, codec, text: str, voice: str) -> dict:
    """A held-out utterance as the token shards hold it: codes of 24 kHz speech, semantic tokens and speaker of
    16 kHz; with the 16 kHz speech itself (`wav16`) for the original's word error rate."""
    wav = as_corpus_keeps(speak_system(text, voice, sr=24000))
    wav16 = resample(wav, 24000, 16000)
    return {
        "stoks.npy": encode_audio(tok, wav16)[0].numpy(),
        "atoks.npy": codec.encode(wav[None])[0].numpy(),
        "spk.npy": speaker_embedding(wav16, "resemblyzer").numpy(),
        "json": {"lang": "en", "voice": voice},
        "txt": text,
        "wav16": wav16,
        "__key__": voice,
    }


def shard_samples(data: str, voices: list[str], per_voice: int) -> list[dict]:
    "The first `per_voice` English samples of each of `voices` in the token shards `data`, in shard order."
    import webdataset as wds
    from whisperspeech.stages import expand_shards

    found = {v: [] for v in voices}
    for s in wds.WebDataset([str(p) for p in expand_shards(data)], shardshuffle=False).decode():
        got = found.get(s["json"].get("voice"))
        if got is not None and len(got) < per_voice and s["json"].get("lang") == "en":
            got.append(s)
        if all(len(g) == per_voice for g in found.values()):
            break
    return [s for g in found.values() for s in g]


def s2a_parser(doc: str, per_voice: int):
    "The held-out options with the S2A checkpoint, the tokenizer and codec under it, and the sampling temperature."
    ap = heldout_parser(doc, "s2a", "S2A checkpoint (.model)", per_voice=per_voice)
    ap.add_argument("--tokenizer", default=str(VOICE / "vq.model"))
    ap.add_argument("--codec", default=str(VOICE / "codec.model"))
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument(
        "--latents", action="store_true", help="parallel S2A: decode its predicted latents instead of their codes"
    )
    ap.add_argument(
        "--aligner",
        default=str(ROOT / "datasets" / "voice-aligner.model"),
        help="a parallel S2A that hears phonemes hears each utterance's, aligned to its tokens by this aligner",
    )
    ap.add_argument("--no-phones", action="store_true", help="a parallel S2A that hears phonemes hears none")
    return ap


def load_stack(args):
    "The semantic tokenizer, S2A and codec vocoder that `args` name (and the aligner, for an S2A that hears phonemes)."
    s2a = load_model(args.s2a, kind="s2a").eval()
    if getattr(s2a, "reads_phones", False) and not args.no_phones:
        s2a.aligner = load_model(args.aligner, kind="aligner").eval()
    return load_model(args.tokenizer, kind="vq"), s2a, CodecVocoder(load_model(args.codec, kind="codec"))


def align(s2a, samples):
    """For a parallel S2A that hears phonemes: give each sample its text's phonemes and their durations in tokens, as
    `prepare align` gives the training shards (samples that have them keep theirs)."""
    aligner = getattr(s2a, "aligner", None)
    if aligner is None:
        return
    from whisperspeech.aligner import durations
    from whisperspeech.phonemes import text_symbols

    for s in samples:
        if "phones" not in s["json"]:
            s["json"]["phones"] = text_symbols(s["txt"], s["json"].get("lang", "en"))
            s["dur.npy"] = durations(aligner, s["stoks.npy"], s["spk.npy"], s["json"]["phones"])


def _phones(s2a, sample):
    "Each token's phoneme id of one `align`ed sample for a parallel S2A that hears them, else None."
    if getattr(s2a, "aligner", None) is None:
        return None
    from whisperspeech.training import _token_phones

    return [_token_phones(sample, s2a.config, len(sample["stoks.npy"]))]


def _langs(s2a, sample):
    "The language input of a parallel S2A that hears it, for one sample (as training and the Pipeline give it)."
    from whisperspeech.languages import lang_id

    return torch.tensor([lang_id(sample["json"].get("lang", "en"))]) if s2a.config.conditioned else None


def parallel_codebooks(s2a, samples) -> dict:
    "A parallel S2A's share of true codes per codebook, over whole utterances."
    right, n = torch.zeros(s2a.config.quantizers), 0
    for s in samples:
        codes = torch.as_tensor(np.asarray(s["atoks.npy"], dtype=np.int64))[: s2a.config.quantizers]
        stoks = torch.as_tensor(np.asarray(s["stoks.npy"], dtype=np.int64))
        spk = torch.as_tensor(s["spk.npy"]).float()[None]
        pred = parallel_s2a_generate(s2a, [stoks], spk, _langs(s2a, s), phones_list=_phones(s2a, s))[0]
        t = min(pred.shape[-1], codes.shape[-1])
        right += (pred[:, :t] == codes[:, :t]).float().sum(-1)
        n += t
    return {"accuracy": [round(float(x), 4) for x in right / n]}


def per_codebook(s2a, samples, batch: int = 8) -> dict:
    "Teacher-forced cross-entropy, next-code accuracy and predictive entropy per codebook (where S2A is sure, and right)."
    if isinstance(s2a, ParallelS2A):
        return parallel_codebooks(s2a, samples)
    from whisperspeech.training import batch_maker

    make, Q = batch_maker("s2a", s2a.config), s2a.config.quantizers
    ce, acc, ent, n = torch.zeros(Q), torch.zeros(Q), torch.zeros(Q), torch.zeros(Q)
    with torch.no_grad():
        for i in range(0, len(samples), batch):
            b = make(samples[i : i + batch])
            logits = s2a(b["stoks"], b["speakers"], b["in_atoks"], b["langs"], b["lengths"]).float()  # (B, Q, T, V)
            target, valid = b["out_atoks"], b["out_atoks"] != -100
            logp = logits.log_softmax(-1)
            nll = -logp.gather(-1, target.clamp(min=0)[..., None])[..., 0]
            for name, value in (
                ("ce", nll),
                ("acc", (logits.argmax(-1) == target).float()),
                ("ent", -(logp.exp() * logp).sum(-1)),
            ):
                {"ce": ce, "acc": acc, "ent": ent}[name].add_((value * valid).sum((0, 2)))
            n.add_(valid.sum((0, 2)))
    return {
        k: [round(float(x), 4) for x in v / n] for k, v in (("cross_entropy", ce), ("accuracy", acc), ("entropy", ent))
    }


def _measures(r: dict) -> str:
    original = "-" if r["wer_original"] is None else f"{r['wer_original']:.3f}"
    return (
        f"WER original {original}  resynthesis {r['wer_resynthesis']:.3f}  similarity {r['similarity']:.3f}  "
        f"duration x{r['duration_ratio']:.2f}"
    )


def resynthesis(tok, s2a, vocoder, samples, temperature: float, latents: bool = False) -> list[dict]:
    """Per voice: Whisper's word error rate of what S2A and the codec make of each sample's semantic tokens and
    speaker (and of the original speech, where the sample holds it), the speaker similarity of the two, and
    the length ratio of the sampled codes to the sample's."""
    voices, rows = {}, []
    for s in samples:
        voices.setdefault(s["json"]["voice"], []).append(s)
    for voice, group in voices.items():
        refs, orig, resynth, sims, ratios = [], [], [], [], []
        for i, s in enumerate(group):
            spk = torch.as_tensor(s["spk.npy"]).float()
            stoks = torch.as_tensor(np.asarray(s["stoks.npy"], dtype=np.int64))
            codes = (
                parallel_s2a_generate(s2a, [stoks], spk[None], _langs(s2a, s), latents, _phones(s2a, s))
                if isinstance(s2a, ParallelS2A)
                else s2a_generate(
                    s2a, [stoks], spk[None], temperature=temperature, generator=torch.Generator().manual_seed(i)
                )
            )[0]
            out = resample(vocoder.decode(codes)[0], 24000, 16000)
            refs.append(s["txt"])
            if "wav16" in s:
                orig.append(transcribe(tok.whisper, s["wav16"]))
            resynth.append(transcribe(tok.whisper, out))
            sims.append(float(torch.nn.functional.cosine_similarity(spk, speaker_embedding(out, "resemblyzer"), dim=0)))
            ratios.append(codes.shape[-1] / s["atoks.npy"].shape[-1])
        rows.append(
            dict(
                voice=voice,
                wer_original=word_error_rate(refs, orig) if orig else None,
                wer_resynthesis=word_error_rate(refs, resynth),
                similarity=sum(sims) / len(sims),
                duration_ratio=sum(ratios) / len(ratios),
                examples=list(zip(refs, resynth)),
            )
        )
        print(f"{voice:18s} {_measures(rows[-1])}   {resynth[-1]!r}", flush=True)
    return rows


def main(argv=None):
    ap = s2a_parser(__doc__, per_voice=2)
    ap.add_argument("--ce-only", action="store_true", help="only the teacher-forced cross-entropy (no resynthesis)")
    ap.add_argument(
        "--int8", action="store_true", help="also measure the cross-entropy with int8 weights (`quantize_int8`)"
    )
    ap.add_argument(
        "--trained-on",
        metavar="DATA",
        help="instead of held-out speech: the first --per-voice samples of each "
        "voice in the token shards DATA (S2A's own training samples, if they are its data: a model that does no "
        "better on them than held out lacks something other than data)",
    )
    args = ap.parse_args(argv)
    tok, s2a, vocoder = load_stack(args)
    if args.trained_on:
        held = shard_samples(args.trained_on, args.voices.split(","), args.per_voice)
    else:
        held = [
            training_sample(tok, vocoder.codec, text, voice) for voice, texts in heldout_texts(args) for text in texts
        ]
    if not held:
        raise SystemExit(f"no English samples of {args.voices} in {args.trained_on}")
    align(s2a, held)
    ce = cross_entropy(s2a.kind, s2a, held, batch=8)
    ce8 = cross_entropy(s2a.kind, quantize_int8(copy.deepcopy(s2a)), held, batch=8) if args.int8 else None
    print(
        f"S2A {'L1 loss' if s2a.kind == 's2a-parallel' else 'cross-entropy'} on {len(held)} {'training samples' if args.trained_on else 'held-out utterances'}: {ce:.3f}"
        + (f"; with int8 weights {ce8:.3f}" if args.int8 else ""),
        flush=True,
    )
    codebooks = per_codebook(s2a, held)
    print(
        "per codebook: " + "; ".join(f"{k} " + " ".join(f"{x:.3f}" for x in v) for k, v in codebooks.items()),
        flush=True,
    )
    measured = "trained_on" if args.trained_on else "heldout"  # the JSON keys say which samples were measured
    if args.ce_only:
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "s2a": args.s2a,
                        "trained_on": args.trained_on,
                        f"{measured}_utterances": len(held),
                        f"{measured}_ce": ce,
                        "codebooks": codebooks,
                    }
                    | ({f"{measured}_ce_int8": ce8} if args.int8 else {}),
                    indent=1,
                )
            )
        return 0
    rows = resynthesis(tok, s2a, vocoder, held, args.temperature, args.latents)
    mean = lambda k: None if any(r[k] is None for r in rows) else sum(r[k] for r in rows) / len(rows)
    summary = {k: mean(k) for k in ("wer_original", "wer_resynthesis", "similarity", "duration_ratio")}
    summary[f"{measured}_ce"] = ce
    if args.int8:
        summary[f"{measured}_ce_int8"] = ce8
    print(f"{'mean':18s} {_measures(summary)}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(dict(s2a=args.s2a, trained_on=args.trained_on, summary=summary, voices=rows), indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
