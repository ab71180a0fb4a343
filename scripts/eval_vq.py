"""Judge a semantic tokenizer by what its tokens keep of what was said: Whisper transcribes the
held-out sentences (datasets/eval_sentences_en.txt) from the audio and from the tokens (the frozen
decoder reading the quantized features); the gap between the two word error rates is the loss.

    .venv/bin/python scripts/eval_vq.py runs/vq/vq.model --per-voice 4
"""
import json
import sys
from pathlib import Path

import torch

from heldout import heldout_parser, heldout_utterances
from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.checkpoints import load_model
from whisperspeech.vq import transcribe_tokens


def main(argv=None):
    ap = heldout_parser(__doc__, "tokenizer", "semantic tokenizer checkpoint (.model)", per_voice=4)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    tok = load_model(args.tokenizer, kind="vq")
    refs, from_audio, from_tokens = [], [], []
    for voice, utterances in heldout_utterances(args, sr=16000):
        for text, wav in utterances:
            refs.append(text)
            from_audio.append(transcribe(tok.whisper, wav))
            from_tokens.append(transcribe_tokens(tok, wav))
        print(f"{voice:18s} audio: {from_audio[-1]!r}\n{'':18s} tokens: {from_tokens[-1]!r}", flush=True)
    result = dict(tokenizer=args.tokenizer, utterances=len(refs), wer_audio=word_error_rate(refs, from_audio),
                  wer_tokens=word_error_rate(refs, from_tokens))
    print(f"Whisper WER from the audio {result['wer_audio']:.3f}, from the semantic tokens {result['wer_tokens']:.3f} "
          f"({result['utterances']} held-out utterances)")
    if args.json: Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
