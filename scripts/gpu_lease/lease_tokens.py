#!/usr/bin/env python
"""Pack the committed token shards for a GPU lease, and unpack them there.

A lease machine takes at most 64 MiB of working tree per call; the shards (57 MB as .tar.gz) plus a
partial model do not fit. Packed column-wise (each field's bytes together) with xz, and holding only
the fields one model trains on, they do: S2A 37 MB (atoks, stoks, spk, json), T2S 10 MB (txt, stoks,
spk, json). `unpack` rebuilds uncompressed .tar shards with the same members in the same order.

    python scripts/gpu_lease/lease_tokens.py pack s2a datasets/voice-tokens .gpu/s2a/data.xz
    python lease_tokens.py unpack .gpu/s2a/data.xz /tmp/vt-s2a      # there: train on '/tmp/vt-s2a/*/*.tar'
"""
import glob
import io
import lzma
import os
import pickle
import sys
import tarfile

FIELDS = {"t2s": ("txt", "stoks.npy", "spk.npy", "json"), "s2a": ("atoks.npy", "stoks.npy", "spk.npy", "json")}


def pack(kind: str, root: str, out: str):
    index, blobs = [], {f: [] for f in FIELDS[kind]}
    for path in sorted(glob.glob(f"{root}/*/*.tar.gz")):
        members = []
        with tarfile.open(path) as t:
            for m in t.getmembers():
                key, ext = m.name.split(".", 1)
                if ext not in blobs: continue
                data = t.extractfile(m).read()
                blobs[ext].append(data)
                members.append((key, ext, len(data)))
        index.append((os.path.relpath(path, root)[:-len(".gz")], members))
    payload = pickle.dumps(dict(index=index, blobs={k: b"".join(v) for k, v in blobs.items()}), protocol=5)
    with open(out + ".tmp", "wb") as f: f.write(lzma.compress(payload, preset=9 | lzma.PRESET_EXTREME))
    os.replace(out + ".tmp", out)
    print(f"packed {len(index)} shards for {kind} into {out}")


def unpack(src: str, dst: str):
    spec = pickle.loads(lzma.decompress(open(src, "rb").read()))  # our own file, made by `pack`
    pos = dict.fromkeys(spec["blobs"], 0)
    for name, members in spec["index"]:
        path = os.path.join(dst, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with tarfile.open(path + ".tmp", "w") as t:
            for key, ext, size in members:
                data = spec["blobs"][ext][pos[ext]:pos[ext] + size]
                pos[ext] += size
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = size
                t.addfile(info, io.BytesIO(data))
        os.replace(path + ".tmp", path)
    assert all(pos[k] == len(v) for k, v in spec["blobs"].items()), "the pack's index does not cover its data"
    print(f"unpacked {len(spec['index'])} shards into {dst}")


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("pack", "unpack"): sys.exit(__doc__)
    pack(*sys.argv[2:5]) if sys.argv[1] == "pack" else unpack(*sys.argv[2:4])
