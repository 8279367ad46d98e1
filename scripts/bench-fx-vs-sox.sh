#!/usr/bin/env bash
# osp-fx vs SoX, side by side in one run (docs/effects.md §5): the same 60 s stereo 48 kHz pluck
# arpeggio through `osp-fx render --effect KEY` and through the nearest SoX effect, CPU time
# (user + sys, best of 3) minus each tool's own decode/encode baseline (`osp-fx render --bypass`,
# plain `sox in.wav out.wav`), in ns per stereo frame. Prints the machine and load, since wall
# and CPU time on a shared machine move by tens of percent.
#
# Usage: scripts/bench-fx-vs-sox.sh        (needs sox and cargo; honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v sox >/dev/null || { echo "bench-fx-vs-sox: needs sox (apt-get install sox)" >&2; exit 2; }
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p osp-fx
osp_fx="$target_dir/release/osp-fx"

work=$(mktemp -d "${TMPDIR:-/tmp}/osp-fx-vs-sox.XXXXXX")
trap 'rm -rf "$work"' EXIT

rate=48000
seconds=60
frames=$((rate * seconds))

# Stimulus (docs/effects.md §5): E2 B2 E3 G3 B3 E4 B3 G3, 0.5 s plucks, looped to 60 s, right channel
# 11 ms late, -3 dBFS peak, 32-bit float.
notes=(E2 B2 E3 G3 B3 E4 B3 G3)
parts=()
for i in "${!notes[@]}"; do
  sox -q -n -r "$rate" -c 1 -b 32 -e floating-point "$work/note$i.wav" synth 0.5 pluck "${notes[$i]}"
  parts+=("$work/note$i.wav")
done
sox -q "${parts[@]}" "$work/arp.wav"
sox -q "$work/arp.wav" -b 32 -e floating-point "$work/in.wav" \
  repeat $((seconds / 4 - 1)) remix 1 1 delay 0 0.011 trim 0 "$seconds" gain -n -3

# A peaking band matching `equalizer 1000 1q +6` (the EQ's default bands are all 0 dB, free).
cat >"$work/eq1.json" <<'JSON'
{"eq": {"bands": [{"frequency": 1000, "gain": 6, "q": 1, "type": "peak"}]}}
JSON

# Best of 3 user+sys CPU seconds of a command; its output is discarded.
cpu_seconds() {
  local best="" t
  "$@" >/dev/null 2>&1 || { echo "bench-fx-vs-sox: failed: $*" >&2; exit 1; }
  for _ in 1 2 3; do
    t=$( { TIMEFORMAT='%3U %3S'; time "$@" >/dev/null 2>&1; } 2>&1 | awk '{ print $1 + $2 }')
    if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}

ns_per_frame() { awk -v s="$1" -v f="$frames" 'BEGIN { printf "%.1f", s * 1e9 / f }'; }

sox_run() { sox --single-threaded -q "$work/in.wav" -b 32 -e floating-point "$work/sox.wav" "$@"; }
osp_run() { "$osp_fx" render "$@" "$work/in.wav" "$work/osp.wav"; }

# In-process processing time of the same render (osp-fx --time, best of 3), for reference.
osp_inproc() {
  for _ in 1 2 3; do
    "$osp_fx" render "$@" --time "$work/in.wav" "$work/osp.wav" 2>&1 >/dev/null |
      awk '/ns\/stereo frame/ { for (i = 1; i < NF; i++) if ($(i + 1) == "ns/stereo") print $i }'
  done | sort -g | head -n1
}

available=" $("$osp_fx" effects | tr '\n' ' ') "
has() { [[ $available == *" $1 "* ]]; }

echo "machine: $(uname -srm); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(nproc) CPUs"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "stimulus: $seconds s stereo $rate Hz f32 pluck arpeggio ($frames frames); osp-fx block 64; CPU = user+sys, best of 3"

osp_base=$(cpu_seconds osp_run --bypass)
sox_base=$(cpu_seconds sox_run)
echo "baselines: osp-fx --bypass $(ns_per_frame "$osp_base") ns/frame (in-process $(osp_inproc --bypass)), sox in.wav out.wav $(ns_per_frame "$sox_base") ns/frame"
echo

# key | osp-fx arguments | SoX effect (empty: SoX has none)
rows=(
  "compressor|--effect compressor|compand 0.01,0.1 6:-24,-24,0,-18"
  "eq (1 band)|--effect eq --preset $work/eq1.json|equalizer 1000 1q +6"
  "noiseGate|--effect noiseGate|compand 0.0001,0.1 -inf,-40.1,-inf,-40,-40 0 -90"
  "limiter|--effect limiter|compand 0.001,0.05 -1,-1,0,-1 0 0 0.005"
  "multibandCompressor|--effect multibandCompressor|mcompand 0.01,0.1\\ -20,-20,0,-13.33 200 0.01,0.1\\ -20,-20,0,-13.33 4000 0.01,0.1\\ -20,-20,0,-13.33"
  "overdrive|--effect overdrive|overdrive 20 20"
  "bitcrusher|--effect bitcrusher|"
  "reverb|--effect reverb|reverb 50 50 100 100 20 0"
  "chorus (3 voices)|--effect chorus|chorus 0.7 0.9 55 0.4 0.25 2 -t 60 0.32 0.4 2.3 -t 40 0.3 0.3 1.3 -s"
  "flanger|--effect flanger|flanger 2 2 0 71 0.5 sine 25 lin"
  "phaser|--effect phaser|phaser 0.6 0.66 3 0.6 0.5 -s"
  "tremolo|--effect tremolo|tremolo 5 50"
  "delay (echo)|--effect delay|echo 0.8 0.9 250 0.3"
  "harmonizer (vs pitch +4 st)|--effect harmonizer|pitch 400"
)

printf '%-22s %14s %14s %8s %14s  %s\n' effect "osp-fx net" "sox net" ratio "osp in-proc" "SoX effect"
for row in "${rows[@]}"; do
  IFS='|' read -r name osp_args sox_effect <<<"$row"
  key=${name%% *}
  if ! has "$key"; then
    printf '%-22s %s\n' "$name" "(not in this build's chain: skipped)"
    continue
  fi
  read -r -a osp_argv <<<"$osp_args"
  osp_net=$(awk -v a="$(cpu_seconds osp_run "${osp_argv[@]}")" -v b="$osp_base" -v f="$frames" \
    'BEGIN { printf "%.1f", (a - b) * 1e9 / f }')
  inproc=$(osp_inproc "${osp_argv[@]}")
  if [[ -z $sox_effect ]]; then
    printf '%-22s %14s %14s %8s %14s  %s\n' "$name" "$osp_net" "–" "–" "$inproc" "(none)"
    continue
  fi
  # Backslash-escaped spaces keep mcompand's per-band "attack,decay points" one argument.
  eval "sox_argv=($sox_effect)"
  sox_net=$(awk -v a="$(cpu_seconds sox_run "${sox_argv[@]}")" -v b="$sox_base" -v f="$frames" \
    'BEGIN { printf "%.1f", (a - b) * 1e9 / f }')
  ratio=$(awk -v o="$osp_net" -v s="$sox_net" 'BEGIN { if (s > 0) printf "%.2f", o / s; else print "–" }')
  printf '%-22s %14s %14s %8s %14s  %s\n' "$name" "$osp_net" "$sox_net" "$ratio" "$inproc" "${sox_effect//\\/}"
done
echo
echo "net = CPU ns per stereo frame minus the tool's I/O baseline; ratio = osp-fx / SoX (< 1: osp-fx"
echo "cheaper); in-proc = osp-fx --time (processing only, includes the all-off chain's cost)."
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
