"""Judge S2A (with the semantic tokenizer and codec under it) without T2S: resynthesis of held-out speech.

Each held-out utterance (a corpus voice speaking a sentence of datasets/eval_sentences_en.txt) is
turned into semantic tokens by the tokenizer and a resemblyzer embedding of the recording; S2A makes
codec tokens from them and the codec decodes those. Reports per voice Whisper's word error rate of
the original and of the resynthesis, the resemblyzer similarity between the two, and the duration
ratio. What T2S can reach is bounded by this.

Also S2A's teacher-forced cross-entropy on the codec tokens of the same sentences spoken at 24 kHz
(what it trains on): a steadier way to compare checkpoints than the word error rate of one sampled
resynthesis per utterance, also given per codebook with next-code accuracy and the entropy of the predictions (a
lower cross-entropy from less confident predictions is not a sharper model). `--ce-only` measures that alone (no
sampling, no ASR: a minute).

    .venv/bin/python scripts/eval_s2a.py runs/s2a/s2a.model --per-voice 2
"""
import json
import sys
from pathlib import Path

import torch

from heldout import ROOT, cross_entropy, heldout_parser, heldout_texts, heldout_utterances
from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.audio import load_audio, resample
from whisperspeech.checkpoints import load_model
from whisperspeech.codec import CodecVocoder
from whisperspeech.s2a import s2a_generate
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
    "A held-out utterance as the token shards hold it: codes of 24 kHz speech, semantic tokens and speaker of 16 kHz."
    wav = as_corpus_keeps(speak_system(text, voice, sr=24000))
    wav16 = resample(wav, 24000, 16000)
    return {"stoks.npy": encode_audio(tok, wav16)[0].numpy(), "atoks.npy": codec.encode(wav[None])[0].numpy(),
            "spk.npy": speaker_embedding(wav16, "resemblyzer").numpy(), "json": {"lang": "en"}, "__key__": voice}


def s2a_parser(doc: str, per_voice: int):
    "The held-out options with the S2A checkpoint, the tokenizer and codec under it, and the sampling temperature."
    ap = heldout_parser(doc, "s2a", "S2A checkpoint (.model)", per_voice=per_voice)
    ap.add_argument("--tokenizer", default=str(VOICE / "vq.model"))
    ap.add_argument("--codec", default=str(VOICE / "codec.model"))
    ap.add_argument("--temperature", type=float, default=0.7)
    return ap


def load_stack(args):
    "The semantic tokenizer, S2A and codec vocoder that `args` name."
    return (load_model(args.tokenizer, kind="vq"), load_model(args.s2a, kind="s2a").eval(),
            CodecVocoder(load_model(args.codec, kind="codec")))


def per_codebook(s2a, samples, batch: int = 8) -> dict:
    "Teacher-forced cross-entropy, next-code accuracy and predictive entropy per codebook (where S2A is sure, and right)."
    from whisperspeech.training import batch_maker
    make, Q = batch_maker("s2a", s2a.config), s2a.config.quantizers
    ce, acc, ent, n = torch.zeros(Q), torch.zeros(Q), torch.zeros(Q), torch.zeros(Q)
    with torch.no_grad():
        for i in range(0, len(samples), batch):
            b = make(samples[i:i + batch])
            logits = s2a(b["stoks"], b["speakers"], b["in_atoks"], b["langs"], b["lengths"]).float()  # (B, Q, T, V)
            target, valid = b["out_atoks"], b["out_atoks"] != -100
            logp = logits.log_softmax(-1)
            nll = -logp.gather(-1, target.clamp(min=0)[..., None])[..., 0]
            for name, value in (("ce", nll), ("acc", (logits.argmax(-1) == target).float()), ("ent", -(logp.exp() * logp).sum(-1))):
                {"ce": ce, "acc": acc, "ent": ent}[name].add_((value * valid).sum((0, 2)))
            n.add_(valid.sum((0, 2)))
    return {k: [round(float(x), 4) for x in v / n] for k, v in (("cross_entropy", ce), ("accuracy", acc), ("entropy", ent))}


def main(argv=None):
    ap = s2a_parser(__doc__, per_voice=2)
    ap.add_argument("--ce-only", action="store_true", help="only the teacher-forced cross-entropy (no resynthesis)")
    args = ap.parse_args(argv)
    tok, s2a, vocoder = load_stack(args)
    held = [training_sample(tok, vocoder.codec, text, voice) for voice, texts in heldout_texts(args) for text in texts]
    ce = cross_entropy("s2a", s2a, held, batch=8)
    print(f"S2A cross-entropy on {len(held)} held-out utterances: {ce:.3f}", flush=True)
    codebooks = per_codebook(s2a, held)
    print("per codebook: " + "; ".join(f"{k} " + " ".join(f"{x:.3f}" for x in v) for k, v in codebooks.items()), flush=True)
    if args.ce_only:
        if args.json: Path(args.json).write_text(json.dumps(dict(s2a=args.s2a, heldout_utterances=len(held), heldout_ce=ce,
                                                                 codebooks=codebooks), indent=1))
        return 0
    rows = []
    for voice, utterances in heldout_utterances(args, sr=16000):
        refs, orig, resynth, sims, ratios = [], [], [], [], []
        for i, (text, wav) in enumerate(utterances):
            stoks = encode_audio(tok, wav)[0]
            spk = speaker_embedding(wav, "resemblyzer")
            codes = s2a_generate(s2a, [stoks], spk[None], temperature=args.temperature,
                                 generator=torch.Generator().manual_seed(i))[0]
            out = resample(vocoder.decode(codes)[0], 24000, 16000)
            refs.append(text)
            orig.append(transcribe(tok.whisper, wav))
            resynth.append(transcribe(tok.whisper, out))
            sims.append(float(torch.nn.functional.cosine_similarity(spk, speaker_embedding(out, "resemblyzer"), dim=0)))
            ratios.append(out.shape[0] / wav.shape[0])
        rows.append(dict(voice=voice, wer_original=word_error_rate(refs, orig), wer_resynthesis=word_error_rate(refs, resynth),
                         similarity=sum(sims) / len(sims), duration_ratio=sum(ratios) / len(ratios),
                         examples=list(zip(refs, resynth))))
        r = rows[-1]
        print(f"{voice:18s} WER original {r['wer_original']:.3f}  resynthesis {r['wer_resynthesis']:.3f}  "
              f"similarity {r['similarity']:.3f}  duration x{r['duration_ratio']:.2f}   {resynth[-1]!r}", flush=True)
    mean = lambda k: sum(r[k] for r in rows) / len(rows)
    summary = {k: mean(k) for k in ("wer_original", "wer_resynthesis", "similarity", "duration_ratio")}
    summary["heldout_ce"] = ce
    print(f"{'mean':18s} WER original {summary['wer_original']:.3f}  resynthesis {summary['wer_resynthesis']:.3f}  "
          f"similarity {summary['similarity']:.3f}  duration x{summary['duration_ratio']:.2f}")
    if args.json: Path(args.json).write_text(json.dumps(dict(s2a=args.s2a, summary=summary, voices=rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
