"""Where S2A loses intelligibility: resynthesis with its first K codebooks replaced by the true codes.

For each held-out utterance (as `eval_s2a.py` makes them: semantic tokens and speaker of the 16 kHz
recording, codec codes of the 24 kHz one) S2A decodes as usual, except that after each step the
codebooks below K take the true code of their frame, so later steps condition on them. K=0 is plain
resynthesis, K=Q (all codebooks) the codec's own reconstruction. Prints per K the Whisper word error rate
and how often each codebook's code equals the true one.

    .venv/bin/python scripts/research/s2a_codebook_oracle.py whisperspeech/voice/s2a.model --per-voice 4 \\
        --sentences datasets/validation_sentences_en.txt
"""

import json
from pathlib import Path

import torch

from eval_s2a import load_stack, s2a_parser, training_sample
from heldout import heldout_texts
from whisperspeech.asr import transcribe, word_error_rate
from whisperspeech.audio import resample
from whisperspeech.s2a import s2a_columns, s2a_frames


def forced_resynthesis(s2a, sample, true: torch.Tensor, k: int, temperature: float, seed: int) -> torch.Tensor:
    "Codes (Q, frames) S2A samples for `sample` with codebooks 0..k-1 set to its true codes `true` (Q, frames)."
    stoks = torch.from_numpy(sample["stoks.npy"])
    spk = torch.from_numpy(sample["spk.npy"]).float()[None]
    with torch.inference_mode():
        for grid, col in s2a_columns(s2a, [stoks], spk, None, temperature, None, [torch.Generator().manual_seed(seed)]):
            for q in range(
                min(k, s2a.config.quantizers)
            ):  # the grid's column `col` holds frame col - 1 - q of codebook q (the delay pattern)
                frame = col - 1 - q
                if 0 <= frame < true.shape[-1]:
                    grid[0, q, col] = true[q, frame]
        return s2a.pattern.revert(grid[:, :, : s2a_frames(s2a, stoks) + s2a.config.quantizers])[0]


def main(argv=None):
    ap = s2a_parser(__doc__, per_voice=4)
    ap.add_argument("--forced", default="0,1,2,4", help="values of K, comma-separated (default: 0,1,2,4)")
    args = ap.parse_args(argv)
    tok, s2a, vocoder = load_stack(args)
    samples = [
        (text, training_sample(tok, vocoder.codec, text, voice))
        for voice, texts in heldout_texts(args)
        for text in texts
    ]
    held = [(text, sample, torch.from_numpy(sample["atoks.npy"]).long()) for text, sample in samples]
    rows = []
    for k in (int(x) for x in args.forced.split(",")):
        hyps, agree = [], []
        for i, (text, sample, true) in enumerate(held):
            codes = forced_resynthesis(s2a, sample, true, k, args.temperature, i)
            n = min(codes.shape[-1], true.shape[-1])
            agree.append((codes[:, :n] == true[:, :n]).float().mean(1))
            hyps.append(transcribe(tok.whisper, resample(vocoder.decode(codes)[0], 24000, 16000)))
        rows.append(
            dict(
                forced=k,
                wer=word_error_rate([t for t, _, _ in held], hyps),
                agreement=[round(float(a), 3) for a in torch.stack(agree).mean(0)],
            )
        )
        print(
            f"true codebooks 0..{k - 1 if k else '-'}: WER {rows[-1]['wer']:.3f}, codes equal to the true ones per codebook "
            f"{rows[-1]['agreement']}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(dict(s2a=args.s2a, utterances=len(held), rows=rows), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
