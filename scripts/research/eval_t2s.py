"""Does T2S generalize? Its cross-entropy on the semantic tokens of held-out speech vs on training samples.

Held-out utterances (corpus voices speaking datasets/eval_sentences_en.txt, in no training text) are
turned into semantic tokens by the tokenizer; T2S, teacher-forced, predicts them from the text. The
same on the first samples of the training shards (`--train-data`) shows the gap: a T2S that only
memorized its sentences is near ln(codes) on held-out text.

    .venv/bin/python scripts/research/eval_t2s.py runs/t2s/t2s.model --train-data data/final
"""

import copy
import json
import math
import sys
from pathlib import Path


from heldout import ROOT, cross_entropy, heldout_parser, heldout_utterances
from whisperspeech.checkpoints import load_model
from whisperspeech.speaker import speaker_embedding
from whisperspeech.stages import expand_shards
from whisperspeech.vq import encode_audio


def main(argv=None):
    ap = heldout_parser(__doc__, "t2s", "T2S checkpoint (.model)", per_voice=2)
    ap.add_argument("--tokenizer", default=str(ROOT / "whisperspeech" / "voice" / "vq.model"))
    ap.add_argument("--train-data", help="training shards: also measure on their first samples")
    ap.add_argument("--train-samples", type=int, default=64)
    ap.add_argument("--int8", action="store_true", help="also measure the held-out cross-entropy with int8 weights")
    args = ap.parse_args(argv)
    tok = load_model(args.tokenizer, kind="vq")
    t2s = load_model(args.t2s, kind="t2s").eval()
    if t2s.kind != "t2s":
        sys.exit(
            f"{args.t2s} is a parallel T2S: its tokens need durations to be teacher-forced; judge it with "
            "`whisperspeech eval` (end-to-end WER and the readback of its tokens)"
        )
    held = [
        {
            "txt": text,
            "stoks.npy": encode_audio(tok, wav)[0].numpy(),
            "json": {"lang": "en"},
            "__key__": voice,
            "spk.npy": speaker_embedding(wav, "resemblyzer").numpy(),
        }
        for voice, utterances in heldout_utterances(args, sr=16000)
        for text, wav in utterances
    ]
    result = dict(
        t2s=args.t2s,
        heldout_utterances=len(held),
        heldout_ce=cross_entropy("t2s", t2s, held, batch=16),
        uniform_ce=math.log(t2s.config.stoks_codes),
    )
    if args.int8:
        from whisperspeech.layers import quantize_int8

        result["heldout_ce_int8"] = cross_entropy("t2s", quantize_int8(copy.deepcopy(t2s)), held, batch=16)
    if args.train_data:
        import webdataset as wds

        urls = [str(p) for p in expand_shards(args.train_data)]
        samples = [s for _, s in zip(range(args.train_samples), wds.WebDataset(urls, shardshuffle=False).decode())]
        result.update(train_samples=len(samples), train_ce=cross_entropy("t2s", t2s, samples, batch=16))
    print(
        f"T2S cross-entropy: held-out {result['heldout_ce']:.3f} ({len(held)} utterances)"
        + (f", training {result['train_ce']:.3f} ({result['train_samples']} samples)" if args.train_data else "")
        + f"; uniform {result['uniform_ce']:.3f}"
        + (f"; held-out with int8 weights {result['heldout_ce_int8']:.3f}" if args.int8 else "")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
