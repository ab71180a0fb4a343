"""Judge a semantic tokenizer by what its tokens keep of what was said: Whisper transcribes the
held-out sentences (datasets/eval_sentences_en.txt) from the audio and from the tokens (the frozen
decoder reading the quantized features); the gap between the two word error rates is the loss. Greedy
transcripts can fall into repetition loops, so the frozen decoder's cross-entropy on the true transcript,
teacher-forced from the quantized features (and, for scale, from the real ones), is reported too.

    .venv/bin/python scripts/eval_vq.py runs/vq/vq.model --per-voice 4
"""
import json
import sys
from pathlib import Path

import torch

from heldout import heldout_parser, heldout_utterances
from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.checkpoints import load_model
from whisperspeech.training import batch_maker
from whisperspeech.vq import decoder_logits, features_loss, transcribe_tokens, whisper_features


def transcript_ce(tok, make_batch, text, wav) -> tuple[float, float]:
    "The frozen decoder's cross-entropy on `text` from the quantized features and from the real ones."
    embs, valid = whisper_features(tok.whisper, wav)
    b = make_batch([{"txt": text, "wenc.npy": embs.numpy(), "json": {"wenc_frames": valid}, "__key__": "x"}])
    with torch.no_grad():
        ce = features_loss(tok, b["embs"], b["mask"], b["input_toks"], b["output_toks"])[1]["ce"]
        real = decoder_logits(tok.whisper, b["input_toks"], b["embs"])
        ce_real = torch.nn.functional.cross_entropy(real.flatten(0, 1), b["output_toks"].flatten(), ignore_index=-100)
    return float(ce), float(ce_real)


def main(argv=None):
    ap = heldout_parser(__doc__, "tokenizer", "semantic tokenizer checkpoint (.model)", per_voice=4)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    tok = load_model(args.tokenizer, kind="vq")
    make_batch = batch_maker("vq", tok.config)
    refs, from_audio, from_tokens, ces = [], [], [], []
    for voice, utterances in heldout_utterances(args, sr=16000):
        for text, wav in utterances:
            refs.append(text)
            from_audio.append(transcribe(tok.whisper, wav))
            from_tokens.append(transcribe_tokens(tok, wav))
            ces.append(transcript_ce(tok, make_batch, text, wav))
        print(f"{voice:18s} audio: {from_audio[-1]!r}\n{'':18s} tokens: {from_tokens[-1]!r}", flush=True)
    result = dict(tokenizer=args.tokenizer, utterances=len(refs), wer_audio=word_error_rate(refs, from_audio),
                  wer_tokens=word_error_rate(refs, from_tokens), ce_tokens=sum(c[0] for c in ces) / len(ces),
                  ce_audio=sum(c[1] for c in ces) / len(ces))
    print(f"Whisper WER from the audio {result['wer_audio']:.3f}, from the semantic tokens {result['wer_tokens']:.3f} "
          f"({result['utterances']} held-out utterances); transcript cross-entropy from the tokens "
          f"{result['ce_tokens']:.3f}, from the audio {result['ce_audio']:.3f}")
    if args.json: Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
