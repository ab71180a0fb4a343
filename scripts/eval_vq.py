"""Judge a semantic tokenizer by what its tokens keep of what was said: Whisper transcribes the
held-out sentences (datasets/eval_sentences_en.txt) from the audio and from the tokens (the frozen
decoder reading the quantized features); the gap between the two word error rates is the loss.

    .venv/bin/python scripts/eval_vq.py runs/vq/vq.model --per-voice 4
"""
import argparse
import json
import sys
from pathlib import Path

import torch

from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.checkpoints import load_model
from whisperspeech.corpus import VOICES
from whisperspeech.system_voices import speak_system
from whisperspeech.vq import transcribe_tokens

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tokenizer", help="semantic tokenizer checkpoint (.model)")
    ap.add_argument("--sentences", default=str(ROOT / "datasets/eval_sentences_en.txt"))
    ap.add_argument("--voices", default=",".join(v for v in VOICES["en"] if not v.startswith("espeak")))
    ap.add_argument("--per-voice", type=int, default=4)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    tok = load_model(args.tokenizer, kind="vq")
    lines = [l.strip() for l in Path(args.sentences).read_text().splitlines() if l.strip()]
    refs, from_audio, from_tokens = [], [], []
    for v, voice in enumerate(args.voices.split(",")):
        for i in range(args.per_voice):
            text = lines[(v * args.per_voice + i) % len(lines)]
            wav = speak_system(text, voice, sr=16000)
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
