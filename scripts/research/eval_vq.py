"""Judge a semantic tokenizer by what its tokens keep of what was said: Whisper transcribes the
held-out sentences (datasets/eval_sentences_en.txt) from the audio and from the tokens (the frozen
decoder reading the quantized features); the gap between the two word error rates is the loss. Greedy
transcripts can fall into repetition loops, so the frozen decoder's cross-entropy on the true transcript,
teacher-forced from the quantized features (and, for scale, from the real ones), is reported too.

    .venv/bin/python scripts/research/eval_vq.py runs/vq/vq.model --per-voice 4

With --shards, instead: the frozen decoder reads back the true tokens of English samples of token shards
(no audio in them) against their transcripts, over the tokens' own span (`read_tokens`) and, for
comparison, from a 30 s window of them (how `transcribe_tokens` read until it was fixed):

    .venv/bin/python scripts/research/eval_vq.py whisperspeech/voice/vq.model --shards 'datasets/voice-tokens/12h/*.tar.gz' --samples 20
"""

import json
import sys
from pathlib import Path

import torch
import whisper

from heldout import heldout_parser, heldout_utterances
from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.checkpoints import load_model
from whisperspeech.stages import expand_shards
from whisperspeech.training import batch_maker
from whisperspeech.vq import (
    decoder_logits,
    features_loss,
    read_tokens,
    token_features,
    transcribe_tokens,
    whisper_features,
)


def transcript_ce(tok, make_batch, text, wav) -> tuple[float, float]:
    "The frozen decoder's cross-entropy on `text` from the quantized features and from the real ones."
    embs, valid = whisper_features(tok.whisper, wav)
    b = make_batch([{"txt": text, "wenc.npy": embs.numpy(), "json": {"wenc_frames": valid}, "__key__": "x"}])
    with torch.no_grad():
        ce = features_loss(tok, b["embs"], b["mask"], b["input_toks"], b["output_toks"])[1]["ce"]
        real = decoder_logits(tok.whisper, b["input_toks"], b["embs"])
        ce_real = torch.nn.functional.cross_entropy(real.flatten(0, 1), b["output_toks"].flatten(), ignore_index=-100)
    return float(ce), float(ce_real)


def shard_samples(shards: str, n: int, lang: str = "en") -> list[dict]:
    "`n` samples in `lang` spread evenly over the token shards `shards` (a glob), in shard order."
    import webdataset as wds

    urls = [str(p) for p in expand_shards(shards)]
    samples = [s for s in wds.WebDataset(urls, shardshuffle=False).decode() if s["json"].get("lang") == lang]
    return samples[:: max(1, len(samples) // n)][:n]


def windowed_read(tok, stoks) -> str:
    "The old reading: the tokens at the start of a 30 s window of mask frames, decoded by Whisper's own greedy decoding."
    x = token_features(tok, stoks, pad_frames=1500 - tok.config.downsample * len(stoks))
    return whisper.decode(tok.whisper, x, whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False))[
        0
    ].text.strip()


def shard_readback(tok, shards: str, n: int) -> dict:
    "WER of the true tokens of `n` English shard samples read back over their own span and from a 30 s window."
    samples = shard_samples(shards, n)
    refs, own, window = [s["txt"] for s in samples], [], []
    for s in samples:
        stoks = torch.from_numpy(s["stoks.npy"].astype("int64"))
        own.append(read_tokens(tok, stoks))
        window.append(windowed_read(tok, stoks))
        print(
            f"{s['json']['voice']:18s} {s['txt']!r}\n{'':18s} own span: {own[-1]!r}\n{'':18s} 30 s window: {window[-1]!r}",
            flush=True,
        )
    return dict(
        shards=shards,
        samples=len(samples),
        wer_read_tokens=word_error_rate(refs, own),
        wer_windowed=word_error_rate(refs, window),
        length_ratio_read_tokens=sum(map(len, own)) / sum(map(len, refs)),
    )


def main(argv=None):
    ap = heldout_parser(__doc__, "tokenizer", "semantic tokenizer checkpoint (.model)", per_voice=4)
    ap.add_argument(
        "--shards", help="instead of held-out speech: read back the true tokens of these token shards (a glob)"
    )
    ap.add_argument("--samples", type=int, default=20, help="with --shards: English samples, spread over the shards")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    tok = load_model(args.tokenizer, kind="vq")
    if args.shards:
        result = dict(tokenizer=args.tokenizer, **shard_readback(tok, args.shards, args.samples))
        print(
            f"read back from the true tokens of {result['samples']} samples: WER {result['wer_read_tokens']:.3f} over "
            f"their own span (text {result['length_ratio_read_tokens']:.2f}x the transcript's length), "
            f"{result['wer_windowed']:.3f} from a 30 s window"
        )
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        return 0
    make_batch = batch_maker("vq", tok.config)
    refs, from_audio, from_tokens, ces = [], [], [], []
    for voice, utterances in heldout_utterances(args, sr=16000):
        for text, wav in utterances:
            refs.append(text)
            from_audio.append(transcribe(tok.whisper, wav))
            from_tokens.append(transcribe_tokens(tok, wav))
            ces.append(transcript_ce(tok, make_batch, text, wav))
        print(f"{voice:18s} audio: {from_audio[-1]!r}\n{'':18s} tokens: {from_tokens[-1]!r}", flush=True)
    result = dict(
        tokenizer=args.tokenizer,
        utterances=len(refs),
        wer_audio=word_error_rate(refs, from_audio),
        wer_tokens=word_error_rate(refs, from_tokens),
        ce_tokens=sum(c[0] for c in ces) / len(ces),
        ce_audio=sum(c[1] for c in ces) / len(ces),
    )
    print(
        f"Whisper WER from the audio {result['wer_audio']:.3f}, from the semantic tokens {result['wer_tokens']:.3f} "
        f"({result['utterances']} held-out utterances); transcript cross-entropy from the tokens "
        f"{result['ce_tokens']:.3f}, from the audio {result['ce_audio']:.3f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
