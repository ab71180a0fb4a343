"""End-to-end speed of voices on the same sentences, in one process: model bundles (stage by stage: T2S,
S2A, vocoder) and optionally system voices such as Piper, timed in interleaved rounds (every voice speaks
each sentence once a round, in rotating order), reported as medians of the rounds' real-time factors and
as ratios to the first voice. `--clone VOICE` adds, for every bundle, that voice cloned from a recording of
it (a system voice reading the reference sentences, `evaluate.clone_recording`, read once beforehand; the
time that reading takes is printed apart); with `--tune-steps N`, that clone again with the S2A tuned on the
recording first, a cost also printed apart.

    .venv/bin/python scripts/bench/bench_voice.py --model embedded --model OLD_BUNDLE --system piper:joe
    .venv/bin/python scripts/bench/bench_voice.py --model BUNDLE --clone espeak-ng:en+f3 [--tune-steps 60]

Float32, not compiled, `--threads` threads (default 2): what a user's `whisperspeech say` runs."""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

SENTENCES = Path(__file__).resolve().parents[2] / "datasets" / "eval_sentences_en.txt"


def model_voice(ref, clone=None, tune_steps=0):
    """A callable speaking (text, seed) with bundle `ref` (in its default voice, or cloning system voice `clone`, its
    S2A tuned `tune_steps` steps on the recording): (seconds of speech, {stage: seconds})."""
    from whisperspeech.pipeline import Pipeline
    from whisperspeech.s2a import s2a_generate
    from whisperspeech.vocoder import SAMPLE_RATE

    pipe, speaker, name = Pipeline(model=ref, quiet=True), None, None
    if clone:
        from whisperspeech.evaluate import clone_recording

        recording = clone_recording(clone)
        t0 = time.perf_counter()
        speaker = pipe.clone(recording, tune_steps=tune_steps)
        took = time.perf_counter() - t0
        heard = "its latents heard" if speaker.latents is not None else "embedding only"
        heard += f", S2A tuned {tune_steps} steps on it" if tune_steps else ""
        name = f"{pipe.description}, cloning {clone} ({recording.shape[0] / 16000:.1f} s read in {took:.2f} s, {heard})"

    def speak(text, seed):
        t = [time.perf_counter()]
        jobs = pipe._jobs(text, speaker, "en", None, seed)
        speakers = torch.stack([j.speaker for j in jobs])
        t2s_t, s2a_t = pipe._temperatures(None)
        stoks, langs, phones = pipe._semantic(jobs, speakers, t2s_t, None)
        t.append(time.perf_counter())
        codes = (
            pipe._parallel_codes(jobs, stoks, speakers, langs, phones)  # a tuned clone's S2A, else the pipeline's
            if pipe.parallel
            else s2a_generate(pipe.s2a, stoks, speakers, langs, s2a_t, None, [j.s2a_gen for j in jobs])
        )
        t.append(time.perf_counter())
        wav = pipe._join(codes, 0.25)
        t.append(time.perf_counter())
        return wav.shape[0] / SAMPLE_RATE, dict(t2s=t[1] - t[0], s2a=t[2] - t[1], vocoder=t[3] - t[2])

    return name or pipe.description, speak


def system_voice(name):
    from whisperspeech.system_voices import speak_system

    def speak(text, seed):
        t0 = time.perf_counter()
        wav = speak_system(text, name, sr=24000)
        return wav.shape[0] / 24000, dict(all=time.perf_counter() - t0)

    return f"system voice {name}", speak


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], help="a bundle folder or 'embedded' (repeatable)")
    ap.add_argument("--system", action="append", default=[], help="a system voice, e.g. piper:joe (repeatable)")
    ap.add_argument(
        "--clone", action="append", default=[], help="each bundle also clones this system voice (repeatable)"
    )
    ap.add_argument("--tune-steps", type=int, default=0, help="tune the S2A on each --clone's recording first")
    ap.add_argument("--sentences", default=str(SENTENCES))
    ap.add_argument("--limit", type=int, default=10, help="sentences per round (default: 10)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if not args.model and not args.system:
        ap.error("give a --model or a --system voice")
    torch.set_num_threads(args.threads)
    from whisperspeech.evaluate import read_sentences

    texts = read_sentences(args.sentences)[: args.limit]
    clones = [(c, 0) for c in args.clone] + [(c, args.tune_steps) for c in args.clone if args.tune_steps]
    voices = [model_voice(m, *c) for m in args.model for c in [(None, 0), *clones]]
    voices += [system_voice(s) for s in args.system]
    for _, speak in voices:
        speak(texts[0], 0)  # warm-up: first-call allocations, fused weights, engine start
    rtf = [[] for _ in voices]
    stages = [{} for _ in voices]
    for r in range(args.rounds):
        for k in range(len(voices)):
            i = (k + r) % len(voices)  # rotate who goes first
            seconds, took = 0.0, {}
            for j, text in enumerate(texts):
                s, t = voices[i][1](text, j)
                seconds += s
                for name, v in t.items():
                    took[name] = took.get(name, 0.0) + v
            rtf[i].append(sum(took.values()) / seconds)
            for name, v in took.items():
                stages[i].setdefault(name, []).append(v / seconds)
    med = statistics.median
    print(
        f"{len(texts)} sentences of {args.sentences}, {args.rounds} interleaved rounds, {args.threads} threads, float32"
    )
    for (name, _), times, st in zip(voices, rtf, stages):
        parts = ", ".join(f"{k} {med(v):.4f}" for k, v in st.items()) if len(st) > 1 else ""
        print(
            f"RTF {med(times):.4f} [{min(times):.4f}-{max(times):.4f}]  {med(times) / med(rtf[0]):5.2f}x the first  "
            f"{name}" + (f"  ({parts})" if parts else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
