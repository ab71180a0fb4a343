"""The embedded voice's training tokens kept in the repository (datasets/voice-tokens/): the `slim`
shards of the corpus (text, semantic and acoustic tokens, speaker embeddings; no audio) and a manifest
that names the tokenizer and codec they were made with, so T2S and S2A training resumes on a fresh
machine without redoing hours of synthesis and Whisper features. The codec is known by what makes its codes (the
encoder and quantizer): a codec whose decoder alone was tuned (`train codec --decoder-only`) keeps its tokens valid.

    .venv/bin/python scripts/voice_tokens.py write datasets/voice-tokens   # after the recipe's slim stage
    .venv/bin/python scripts/voice_tokens.py check datasets/voice-tokens   # exit 0: made with today's models
"""

import argparse
import collections
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VOICE = ROOT / "whisperspeech" / "voice"
MODELS = {"tokenizer": VOICE / "vq.model", "codec": VOICE / "codec.model"}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def codes_sha256(path: Path) -> str:
    "sha256 of the weights that make a codec's codes (names and values of its `CODE_PARTS`), whatever its decoder."
    from whisperspeech.checkpoints import load_model
    from whisperspeech.codec import CODE_PARTS

    state = load_model(str(path), kind="codec").state_dict()
    h = hashlib.sha256()
    for name in sorted(k for k in state if k.split(".")[0] in CODE_PARTS):
        h.update(name.encode())
        h.update(state[name].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def fingerprints() -> dict:
    "What the manifest records of each model: the tokenizer's file hash, the codec's file hash and codes hash."
    models = {name: dict(path=str(p.relative_to(ROOT)), sha256=sha256(p)) for name, p in MODELS.items()}
    models["codec"]["codes_sha256"] = codes_sha256(MODELS["codec"])
    return models


def summary(folder: Path) -> dict:
    "Samples, hours of speech (from the semantic token counts), and utterances per language and voice."
    from whisperspeech.core import STOKS_PER_SECOND
    from whisperspeech.stages import expand_shards, read_samples

    shards = expand_shards(str(folder / "*" / "*.tar.gz"))
    langs, voices, seconds = collections.Counter(), collections.Counter(), 0.0
    for p in shards:
        for s in read_samples(p):
            meta = json.loads(s["json"])
            langs[meta.get("lang", "en")] += 1
            voices[meta.get("voice", "?")] += 1
            seconds += len(np.load(io.BytesIO(s["stoks.npy"]))) / STOKS_PER_SECOND
    return dict(
        shards=len(shards),
        samples=sum(langs.values()),
        hours=round(seconds / 3600, 2),
        languages=dict(sorted(langs.items())),
        voices=dict(sorted(voices.items())),
        bytes=sum(p.stat().st_size for p in shards),
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["write", "check"])
    ap.add_argument("folder", type=Path, help="the token folder: one subfolder of gzipped slim shards per corpus")
    args = ap.parse_args(argv)
    manifest = args.folder / "MANIFEST.json"
    models = fingerprints()
    if args.action == "write":
        manifest.write_text(json.dumps(dict(made_with=models, **summary(args.folder)), indent=1) + "\n")
        print(manifest.read_text())
        return 0
    if not manifest.exists():
        print(f"{args.folder}: no training tokens (no MANIFEST.json)", file=sys.stderr)
        return 1
    made_with = json.loads(manifest.read_text())["made_with"]
    # the codec by its codes (a manifest written before codes hashes, by its file)
    key = lambda name: "codes_sha256" if "codes_sha256" in made_with.get(name, {}) else "sha256"
    stale = [name for name in models if made_with.get(name, {}).get(key(name)) != models[name][key(name)]]
    if stale:
        print(
            f"{args.folder}: made with another {' and '.join(stale)} than {VOICE.relative_to(ROOT)} holds; "
            "the recipe rebuilds them",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
