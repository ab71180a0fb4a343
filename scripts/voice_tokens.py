"""The embedded voice's training tokens kept in the repository (datasets/voice-tokens/): the `slim`
shards of the corpus (text, semantic and acoustic tokens, speaker embeddings; no audio) and a manifest
that names the tokenizer and codec they were made with, so T2S and S2A training resumes on a fresh
machine without redoing hours of synthesis and Whisper features.

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
    models = {name: dict(path=str(p.relative_to(ROOT)), sha256=sha256(p)) for name, p in MODELS.items()}
    if args.action == "write":
        manifest.write_text(json.dumps(dict(made_with=models, **summary(args.folder)), indent=1) + "\n")
        print(manifest.read_text())
        return 0
    if not manifest.exists():
        print(f"{args.folder}: no training tokens (no MANIFEST.json)", file=sys.stderr)
        return 1
    made_with = json.loads(manifest.read_text())["made_with"]
    stale = [name for name in models if made_with.get(name, {}).get("sha256") != models[name]["sha256"]]
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
