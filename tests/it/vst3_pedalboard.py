"""OSP Jam's VST3 bundle in pedalboard: processing, parameters in plain units, state.

Run by tests/it/vst3_pedalboard.rs with the project's venv: python vst3_pedalboard.py BUNDLE.
Every check prints what it measured; any failure exits non-zero.
"""
import sys

import numpy as np
import pedalboard

SR = 48_000
BLOCK = 256
checks = 0


def check(cond, what):
    global checks
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        sys.exit(1)
    checks += 1


def rms_db(x):
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def pitch(x):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum))
    # Parabolic interpolation of the peak bin.
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-30)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / len(x)


path = sys.argv[1]
plugin = pedalboard.load_plugin(path)
names = sorted(plugin.parameters.keys())
strip = (
    ["bypass", "input_gain_db", "monitor_mix", "output_gain_db"]
    + [f"player_{n}_gain_db" for n in range(1, 8)]
    + [f"player_{n}_mute" for n in range(1, 8)]
)
effects = ["compressor_on", "compressor_threshold_db", "limiter_on", "limiter_ceiling_db"]
check(
    plugin.name == "OSP Jam" and all(n in names for n in strip + effects) and len(names) > 150,
    f"loaded {plugin.name!r} with {len(names)} parameters, the strip's and every effect's",
)
# These checks are about the strip's gains: the default chain's limiter (2 ms lookahead) off.
# The plugin tells the host its new latency (0) from the first block it processes after the
# switch; pedalboard compensates with the latency it read before the call, so one call first.
plugin.limiter_on = False
plugin(np.zeros((2, SR // 10), dtype=np.float32), SR, buffer_size=BLOCK)
plugin.reset()

t = np.arange(SR) / SR
sine = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
stereo = np.stack([sine, sine])

out = plugin(stereo, SR, buffer_size=BLOCK)
err = float(np.max(np.abs(out - stereo)))
check(err < 1e-6, f"defaults are unity: max |out - in| = {err:.2e}")

plugin.output_gain_db = -6.0
plugin.input_gain_db = 3.0
plugin.monitor_mix = 75.0  # own signal still at unity above the centre
plugin.reset()
out = plugin(stereo, SR, buffer_size=BLOCK)
tail = slice(SR // 2, SR)
# pedalboard sets values by searching the plugin's 2-decimal text, so expect what it read back.
expected = plugin.input_gain_db + plugin.output_gain_db
gain = rms_db(out[0, tail]) - rms_db(stereo[0, tail])
check(abs(gain - expected) < 0.02, f"+3 dB in, -6 dB out: {gain:+.4f} dB (set {expected:+.2f})")
f = pitch(out[1, tail])
check(abs(f - 440.0) < 0.5, f"pitch preserved: {f:.2f} Hz")

mono = plugin(sine[np.newaxis, :], SR, buffer_size=BLOCK)
gain = rms_db(mono[0, tail]) - rms_db(sine[tail])
check(mono.shape == (1, SR) and abs(gain - expected) < 0.02, f"mono layout: {mono.shape}, {gain:+.4f} dB")

state = plugin.raw_state
fresh = pedalboard.load_plugin(path)
before = fresh.output_gain_db
fresh.raw_state = state
check(
    abs(before) < 1e-3 and abs(fresh.output_gain_db - plugin.output_gain_db) < 1e-3
    and abs(fresh.input_gain_db - plugin.input_gain_db) < 1e-3
    and abs(fresh.monitor_mix - 75.0) < 0.5,
    f"state restored: out {fresh.output_gain_db} dB, in {fresh.input_gain_db} dB, monitor {fresh.monitor_mix} %",
)

fresh.bypass = True
fresh.reset()
out = fresh(stereo, SR, buffer_size=BLOCK)
err = float(np.max(np.abs(out[:, SR // 10 :] - stereo[:, SR // 10 :])))
check(err < 1e-6, f"bypass passes the dry input: max |out - in| = {err:.2e}")

print(f"ok: {checks} checks")
