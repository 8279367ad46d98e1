#!/usr/bin/env bash
# Side-by-side latency probe: OSP Jam against JackTrip and Jamulus on the same machine, through
# the same JACK server, measured the same way. A benchmark, not a test: it prints figures and
# asserts nothing.
#
# Per JACK period (64 and 128 frames, or the one picked with -p) it starts one dummy JACK server
# (`jackd -d dummy -r 48000`) and measures, in turn, with `jack_iodelay`: its output feeds the
# sender's input, the receiver's output feeds its input, and it reports the round trip of that
# loop a few times a second. After a settling time every reading is kept and summarised.
#
#   wire       jack_iodelay's output straight into its input: the probe's own floor
#   JackTrip   P2P server and client (`-q 2`), into the client, out of the server
#   Jamulus    a headless client through a local server (`-F`), which mixes the player back to
#              itself: the reading is a round trip, so half of it is reported as one way
#   OSP Jam    two release standalones, PCM with 64-frame packets and Opus 2.5 ms frames,
#              `--jitter auto`, into A, out of B; B's `--stats` over the same window gives the
#              concealed, late and skipped audio next to the latency
#   OSP Jam under jitter (with --jitter MS): the same two pairs with B calling A through
#              `osp-netem` (the project's impairment proxy: each datagram delayed |N(0, MS)|,
#              each direction), to show what the adaptive buffer costs and how many glitches
#              remain; JackTrip and Jamulus are not run through it
#
# Everything runs in a private network namespace when the script may create one (root), so
# JackTrip and the Jamulus client, which bind every interface and have no option to bind one,
# can only reach loopback; otherwise it warns and runs on the host's loopback. JACK server,
# client names and UDP ports are unique per run. Ctrl-C or any exit stops every process it
# started (each in its own process group) and then the JACK server.
#
# Usage: scripts/bench-vs-peers.sh [-p 64|128] [-d SECONDS] [-s SECONDS] [--bin PATH] [--jitter MS]
#                                  [--keep-logs]
#   -p PERIOD    JACK period in frames (default: both 64 and 128; env OSP_BENCH_PERIOD)
#   -d SECONDS   measured time per system (default 20, at least 20 for the published table;
#                env OSP_BENCH_SECONDS)
#   -s SECONDS   settling time before the readings count (default 5; env OSP_BENCH_SETTLE)
#   --bin PATH   the osp-jam binary to run (default: `cargo build --release -p standalone
#                -p osp-netem`, under flock on $OSP_BUILD_LOCK, default /tmp/osp-build.lock);
#                `osp-netem` is taken from the same directory
#   --jitter MS  also measure both OSP Jam pairs with MS of jitter σ between them
#   --keep-logs  keep every program's log (the directory is printed) instead of deleting it
set -euo pipefail

RATE=48000
PERIODS=(64 128)
SECONDS_PER_SYSTEM="${OSP_BENCH_SECONDS:-20}"
SETTLE="${OSP_BENCH_SETTLE:-5}"
BIN=""
KEEP_LOGS=0
JITTER_MS=""
if [ -n "${OSP_BENCH_PERIOD:-}" ]; then PERIODS=("$OSP_BENCH_PERIOD"); fi

die() {
  echo "bench-vs-peers: $*" >&2
  exit 2
}
warn() { echo "bench-vs-peers: warning: $*" >&2; }
say() { echo "bench-vs-peers: $*" >&2; }

args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    -p) PERIODS=("${2:?-p needs a period}"); shift 2 ;;
    -d) SECONDS_PER_SYSTEM="${2:?-d needs seconds}"; shift 2 ;;
    -s) SETTLE="${2:?-s needs seconds}"; shift 2 ;;
    --bin) BIN="${2:?--bin needs a path}"; shift 2 ;;
    --keep-logs) KEEP_LOGS=1; shift ;;
    --jitter) JITTER_MS="${2:?--jitter needs milliseconds}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for period in "${PERIODS[@]}"; do
  case "$period" in 64 | 128) ;; *) die "-p takes 64 or 128, not $period" ;; esac
done
[[ "$SECONDS_PER_SYSTEM" =~ ^[0-9]+$ && "$SECONDS_PER_SYSTEM" -gt 0 ]] ||
  die "-d takes whole seconds, not $SECONDS_PER_SYSTEM"
[[ "$SETTLE" =~ ^[0-9]+$ ]] || die "-s takes whole seconds, not $SETTLE"
[[ -z "$JITTER_MS" || "$JITTER_MS" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--jitter takes milliseconds, not $JITTER_MS"

# Debian names the Jamulus binary `Jamulus`; other builds call it `jamulus`.
JAMULUS="$(command -v Jamulus || command -v jamulus || true)"
[ -n "$JAMULUS" ] || die "jamulus not found (scripts/install-deps.sh installs it)"
for tool in jackd jack_iodelay jack_connect jack_lsp jacktrip stdbuf setsid python3 awk; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done

# The standalone, built before entering the namespace (cargo may need the network).
if [ -z "$BIN" ]; then
  command -v cargo >/dev/null || die "cargo not found (or pass --bin PATH to an osp-jam binary)"
  root="$(cd "$(dirname "$0")/.." && pwd)"
  target="${CARGO_TARGET_DIR:-$root/target}"
  say "building the release standalone ($target)"
  lock=(flock "${OSP_BUILD_LOCK:-/tmp/osp-build.lock}")
  command -v flock >/dev/null || lock=()
  (cd "$root" && CARGO_TARGET_DIR="$target" "${lock[@]}" cargo build --release -q -p standalone -p osp-netem) ||
    die "cargo build --release -p standalone -p osp-netem failed"
  BIN="$target/release/osp-jam"
  args+=(--bin "$BIN")
fi
[ -x "$BIN" ] || die "no osp-jam binary at $BIN"
NETEM="$(dirname "$BIN")/osp-netem"
[ -z "$JITTER_MS" ] || [ -x "$NETEM" ] || die "--jitter needs osp-netem next to osp-jam ($NETEM; cargo build --release -p osp-netem)"

# A private network namespace with only `lo`: nothing here can be reached from, or send to,
# another host, whatever address a peer binds.
if [ -z "${OSP_BENCH_NETNS:-}" ]; then
  if command -v unshare >/dev/null && command -v ip >/dev/null && unshare --net true 2>/dev/null; then
    export OSP_BENCH_NETNS=1
    # shellcheck disable=SC2016 # expanded by the inner bash
    exec unshare --net -- bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "${args[@]}"
  fi
  warn "no private network namespace (needs root): JackTrip and the Jamulus client bind all interfaces; they only talk to 127.0.0.1"
fi

RUN="osp_bench_$$"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/osp-bench.XXXXXX")"
GROUPS_STARTED=()
JACKD_PID=""

# Stops every process group we started, then the JACK server (last: its clients leave first).
stop_groups() {
  local pgid
  for pgid in "${GROUPS_STARTED[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
  for pgid in "${GROUPS_STARTED[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  GROUPS_STARTED=()
}
stop_jackd() {
  [ -n "$JACKD_PID" ] || return 0
  kill -TERM -- "-$JACKD_PID" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$JACKD_PID" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$JACKD_PID" 2>/dev/null || true
  wait "$JACKD_PID" 2>/dev/null || true
  JACKD_PID=""
}
cleanup() {
  stop_groups
  stop_jackd
  if [ "$KEEP_LOGS" = 1 ]; then say "logs kept in $LOGS"; else rm -rf "$LOGS"; fi
}
trap cleanup EXIT
trap 'say "interrupted: stopping what it started"; exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in its own process group (without job control a background child is no group
# leader, so setsid does not fork and $! is the group's id), output to log file $1.
spawn() {
  local log="$1"
  shift
  # Created here, not by the child's redirection, so whoever reads it next finds it.
  : >"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  GROUPS_STARTED+=("$!")
  LAST_PID=$!
}

free_udp_port() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $1 seconds for JACK port $2 to exist.
wait_port() {
  local deadline=$((SECONDS + $1))
  while [ "$SECONDS" -lt "$deadline" ]; do
    jack_lsp 2>/dev/null | grep -qxF "$2" && return 0
    sleep 0.2
  done
  return 1
}

# Cycles in which a client of the JACK server did not finish in time, so far.
jackd_xruns() { grep -c 'JackEngine::XRun' "$LOGS/jackd-$PERIOD.log" || true; }

start_jackd() {
  local period="$1" log="$LOGS/jackd-$1.log"
  export JACK_DEFAULT_SERVER="${RUN}_p$period" JACK_NO_START_SERVER=1
  setsid jackd -n "$JACK_DEFAULT_SERVER" -R -d dummy -r "$RATE" -p "$period" >"$log" 2>&1 </dev/null &
  JACKD_PID=$!
  if wait_port 10 system:playback_1; then
    # jackd2 carries on without real-time threads when it may not have them.
    if grep -qi "cannot use real-time" "$log"; then
      warn "jackd runs without real-time scheduling (not permitted here): figures are noisier"
    fi
    return 0
  fi
  stop_jackd
  warn "jackd -R did not start ($(tail -n 1 "$log")): trying without real-time scheduling"
  setsid jackd -n "$JACK_DEFAULT_SERVER" -d dummy -r "$RATE" -p "$period" >"$log" 2>&1 </dev/null &
  JACKD_PID=$!
  wait_port 10 system:playback_1 || die "jackd -d dummy -p $period did not start: $(tail -n 1 "$log")"
}

# Measures with jack_iodelay from its output into port $2 and from port $3 into its input, for
# the settling time plus the measured time; writes the readings (frames, one a line) kept after
# the settling time to file $1. Calls $ON_WINDOW_START and $ON_WINDOW_END (when set) as the
# measured window opens and closes.
ON_WINDOW_START=""
ON_WINDOW_END=""
WINDOW_XRUNS="-"
measure() {
  local out="$1" into="$2" from="$3" log="$1.iodelay"
  spawn "$log" stdbuf -o0 jack_iodelay
  local probe=$LAST_PID
  wait_port 10 jack_delay:in || { echo "jack_iodelay did not register its ports" >"$out.why"; return 1; }
  jack_connect jack_delay:out "$into" ||
    { echo "cannot connect jack_delay:out to $into" >"$out.why"; return 1; }
  if [ "$from" != jack_delay:out ]; then
    jack_connect "$from" jack_delay:in ||
      { echo "cannot connect $from to jack_delay:in" >"$out.why"; return 1; }
  fi
  sleep "$SETTLE"
  local offset
  offset=$(stat -c %s "$log")
  local xruns_before
  xruns_before=$(jackd_xruns)
  [ -z "$ON_WINDOW_START" ] || "$ON_WINDOW_START"
  sleep "$SECONDS_PER_SYSTEM"
  [ -z "$ON_WINDOW_END" ] || "$ON_WINDOW_END"
  WINDOW_XRUNS=$(($(jackd_xruns) - xruns_before))
  kill -TERM -- "-$probe" 2>/dev/null || true
  # jack_iodelay rewrites one status line with \r: "   128.000 frames      2.667 ms total
  # roundtrip latency" while it locks on, "Signal below threshold..." while it does not.
  tail -c +"$((offset + 1))" "$log" | tr '\r' '\n' |
    awk '/frames .* ms total roundtrip latency/ { print $1 }' >"$out"
  [ -s "$out" ] || { echo "no reading (no signal came back)" >"$out.why"; return 1; }
}

# Summary of a readings file, each reading divided by $2: "p50 p99 min max n first last" in
# frames, where first/last are the medians of the first and last quarter of the run (drift).
summarise() {
  local file="$1" div="$2" n q
  n=$(wc -l <"$file")
  q=$((n / 4 > 0 ? n / 4 : 1))
  scaled() { awk -v d="$div" '{ printf "%.3f\n", $1 / d }'; }
  median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }'; }
  scaled <"$file" | sort -g | awk '{ v[NR] = $1 } END {
    printf "%.1f %.1f %.1f %.1f %d ", v[int((NR - 1) * 0.50) + 1], v[int((NR - 1) * 0.99 + 0.5) + 1], v[1], v[NR], NR
  }'
  head -n "$q" "$file" | scaled | median
  printf ' '
  tail -n "$q" "$file" | scaled | median
  echo
}

# One row per measurement: system|codec|period|p50 p99 min max n first last|xruns|note
ROWS=()
record_row() {
  local system="$1" codec="$2" period="$3" readings="$4" divide="$5" note="$6"
  if [ -s "$readings" ] && [ ! -e "$readings.why" ]; then
    ROWS+=("$system|$codec|$period|$(summarise "$readings" "$divide")|$WINDOW_XRUNS|$note")
  else
    ROWS+=("$system|$codec|$period|-|-|$(cat "$readings.why" 2>/dev/null || echo failed)")
  fi
  WINDOW_XRUNS="-"
}

bench_wire() {
  local period="$1" readings="$LOGS/wire-$1"
  measure "$readings" jack_delay:in jack_delay:out || true
  stop_groups
  record_row "wire (probe floor)" "-" "$period" "$readings" 1 ""
}

bench_jacktrip() {
  local period="$1" readings="$LOGS/jacktrip-$1" server="jts_$$_$1" client="jtc_$$_$1"
  local server_port client_port
  server_port=$(free_udp_port)
  client_port=$(free_udp_port)
  spawn "$LOGS/jacktrip-server-$period.log" jacktrip -s -B "$server_port" -J "$server" -D -q 2
  spawn "$LOGS/jacktrip-client-$period.log" jacktrip -c 127.0.0.1 -P "$server_port" -B "$client_port" -J "$client" -D -q 2
  if wait_port 15 "$client:send_1" && wait_port 15 "$server:receive_1"; then
    measure "$readings" "$client:send_1" "$server:receive_1" || true
  else
    echo "JackTrip did not register its ports (logs: $LOGS/jacktrip-*-$period.log)" >"$readings.why"
  fi
  stop_groups
  record_row "JackTrip 1.7 P2P -q 2" "PCM 16" "$period" "$readings" 1 ""
}

bench_jamulus() {
  local period="$1" readings="$LOGS/jamulus-$1" name="jamc_$$_$1" port
  port=$(free_udp_port)
  spawn "$LOGS/jamulus-server-$period.log" env QT_QPA_PLATFORM=offscreen \
    "$JAMULUS" -s -n -F -p "$port" --serverbindip 127.0.0.1
  sleep 1
  # A fresh settings file, so nobody's saved client settings change the figure.
  spawn "$LOGS/jamulus-client-$period.log" env QT_QPA_PLATFORM=offscreen \
    "$JAMULUS" -n -j --clientname "$name" -i "$LOGS/jamulus-client-$period.ini" -c "127.0.0.1:$port"
  # The JACK client is "Jamulus <clientname>", its ports "input left" and "output left".
  local jack_client="Jamulus $name"
  if wait_port 20 "$jack_client:input left"; then
    measure "$readings" "$jack_client:input left" "$jack_client:output left" || true
  else
    echo "the Jamulus client did not come up headless (log: $LOGS/jamulus-client-$period.log)" >"$readings.why"
  fi
  stop_groups
  record_row "Jamulus 3.9 via server, RT/2" "Opus custom" "$period" "$readings" 2 ""
}

# Value after word $2 in the last `--stats` line of log $1 with a peer ("peers 1 | 1: ...").
stats_value() {
  awk -v key="$2" '/^peers 1 / { v = ""; for (i = 1; i < NF; i++) if ($i == key) { v = $(i + 1); break } } END { print v }' "$1"
}

# B's counters (concealed, late, skipped ms, datagrams received) from its latest stats line.
b_counters() {
  local key
  for key in concealed late skipped inserted received; do stats_value "$B_LOG" "$key"; done
}
b_counters_before() { mapfile -t BEFORE < <(b_counters); }
b_counters_after() { mapfile -t AFTER < <(b_counters); }

bench_osp() {
  local period="$1" codec="$2" frame="$3" label="$4" jitter="${5:-}"
  local tag="osp-$codec-$period${jitter:+-jitter}" a="ospa_$$_$codec$period" b="ospb_$$_$codec$period"
  local readings="$LOGS/$tag" a_log="$LOGS/$tag-a.log" b_log="$LOGS/$tag-b.log"
  local common=(--backend jack --room bench --secret "bench-$$" --codec "$codec" --frame "$frame"
    --jitter auto --stats)
  spawn "$a_log" "$BIN" --client-name "$a" --listen 127.0.0.1:0 --user-id 1 "${common[@]}"
  local a_addr="" deadline=$((SECONDS + 20))
  while [ -z "$a_addr" ] && [ "$SECONDS" -lt "$deadline" ]; do
    a_addr=$(awk '/^listening on / { print $3; exit }' "$a_log")
    [ -n "$a_addr" ] || sleep 0.2
  done
  local peer="$a_addr"
  if [ -n "$a_addr" ] && [ -n "$jitter" ]; then
    # B calls A through the impairment proxy; A answers the proxy.
    spawn "$LOGS/$tag-netem.log" "$NETEM" --upstream "$a_addr" --jitter-ms "$jitter" --seed 1
    peer="" deadline=$((SECONDS + 10))
    while [ -z "$peer" ] && [ "$SECONDS" -lt "$deadline" ]; do
      peer=$(awk '/^proxy on / { print $3; exit }' "$LOGS/$tag-netem.log")
      [ -n "$peer" ] || sleep 0.2
    done
  fi
  if [ -z "$a_addr" ]; then
    echo "standalone A did not start: $(tail -n 1 "$a_log")" >"$readings.why"
  elif [ -z "$peer" ]; then
    echo "osp-netem did not start: $(tail -n 1 "$LOGS/$tag-netem.log")" >"$readings.why"
  else
    spawn "$b_log" "$BIN" --client-name "$b" --listen 127.0.0.1:0 --user-id 2 --peer "$peer" "${common[@]}"
    # B hears A once its buffer for A shows.
    deadline=$((SECONDS + 20))
    while [ "$SECONDS" -lt "$deadline" ] && ! awk '/^peers 1 / { for (i = 1; i < NF; i++) if ($i == "buffer" && $(i + 1) > 0) f = 1 } END { exit !f }' "$b_log"; do
      sleep 0.2
    done
    if ! wait_port 5 "$a:input_1" || ! wait_port 5 "$b:output_1"; then
      echo "the standalones did not register their ports (logs: $a_log, $b_log)" >"$readings.why"
    else
      B_LOG="$b_log"
      ON_WINDOW_START=b_counters_before
      ON_WINDOW_END=b_counters_after
      measure "$readings" "$a:input_1" "$b:output_1" || true
      ON_WINDOW_START=""
      ON_WINDOW_END=""
      GLITCHES["$tag"]=$(awk -v c0="${BEFORE[0]:-0}" -v c1="${AFTER[0]:-0}" -v l0="${BEFORE[1]:-}" \
        -v l1="${AFTER[1]:-}" -v s0="${BEFORE[2]:-0}" -v s1="${AFTER[2]:-0}" -v i0="${BEFORE[3]:-0}" \
        -v i1="${AFTER[3]:-0}" -v r0="${BEFORE[4]:-0}" -v r1="${AFTER[4]:-0}" 'BEGIN {
          late = (l1 == "") ? "-" : l1 - l0
          printf "B: concealed %d (%.2f %% of %d datagrams) late %s skipped %.1f ms inserted %.1f ms", c1 - c0, (r1 > r0) ? 100 * (c1 - c0) / (r1 - r0) : 0, r1 - r0, late, s1 - s0, i1 - i0
        }')
      ONE_WAY["$tag"]=$(stats_value "$b_log" one-way)
    fi
  fi
  stop_groups
  local system="OSP Jam 2 standalones"
  [ -z "$jitter" ] || system="OSP Jam, ${jitter} ms jitter σ"
  record_row "$system" "$label" "$period" "$readings" 1 "${GLITCHES[$tag]:-}"
}

declare -A GLITCHES ONE_WAY
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
for PERIOD in "${PERIODS[@]}"; do
  period=$PERIOD
  say "period $period: jackd -n ${RUN}_p$period -d dummy -r $RATE -p $period"
  start_jackd "$period"
  say "  wire (probe floor), ${SETTLE}+${SECONDS_PER_SYSTEM} s"
  bench_wire "$period"
  say "  JackTrip P2P, ${SETTLE}+${SECONDS_PER_SYSTEM} s"
  bench_jacktrip "$period"
  say "  Jamulus through a local server, ${SETTLE}+${SECONDS_PER_SYSTEM} s"
  bench_jamulus "$period"
  say "  OSP Jam PCM 64-frame packets, ${SETTLE}+${SECONDS_PER_SYSTEM} s"
  bench_osp "$period" pcm 64 "PCM L24 64"
  say "  OSP Jam Opus 2.5 ms, ${SETTLE}+${SECONDS_PER_SYSTEM} s"
  bench_osp "$period" opus 120 "Opus 2.5 ms"
  if [ -n "$JITTER_MS" ]; then
    say "  OSP Jam PCM and Opus through osp-netem, ${JITTER_MS} ms jitter σ, ${SETTLE}+${SECONDS_PER_SYSTEM} s each"
    bench_osp "$period" pcm 64 "PCM L24 64" "$JITTER_MS"
    bench_osp "$period" opus 120 "Opus 2.5 ms" "$JITTER_MS"
  fi
  stop_jackd
done

# The table. Ratios: OSP Jam PCM against JackTrip, OSP Jam Opus against Jamulus, same period,
# p50 against p50 and p99 against p99 (below 1.00: we are faster).
echo
echo "One-way latency through one JACK dummy server at $RATE Hz, jack_iodelay, ${SECONDS_PER_SYSTEM} s per system after ${SETTLE} s settling"
echo "($(nproc) cores, load average $LOAD_AT_START at the start, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?") at the end)"
printf '%-30s %-12s %6s %10s %7s %7s %6s %13s %14s %4s %5s  %-24s %s\n' \
  system codec period "frames p50" p99 "ms p50" p99 min-max "p50 1st->4th" n xruns "ratio p50/p99" "receiver over the same window"
for row in "${ROWS[@]}"; do
  IFS='|' read -r system codec period stats xruns note <<<"$row"
  if [ "$stats" = "-" ]; then
    printf '%-30s %-12s %6s %s\n' "$system" "$codec" "$period" "not measured: $note"
    continue
  fi
  read -r p50 p99 lo hi n first last <<<"$stats"
  ratio=""
  peer=""
  case "$system|$codec" in
    "OSP Jam 2"*"|PCM"*) peer="JackTrip" ;;
    "OSP Jam 2"*"|Opus"*) peer="Jamulus" ;;
  esac
  if [ -n "$peer" ]; then
    for other in "${ROWS[@]}"; do
      IFS='|' read -r osystem _ operiod ostats _ _ <<<"$other"
      if [[ "$osystem" == "$peer"* && "$operiod" == "$period" && "$ostats" != "-" ]]; then
        read -r op50 op99 _ <<<"$ostats"
        ratio=$(awk -v a="$p50" -v b="$op50" -v c="$p99" -v d="$op99" 'BEGIN { printf "%.2f/%.2f", a / b, c / d }')
        ratio="$ratio vs $peer"
      fi
    done
  fi
  printf '%-30s %-12s %6s %10s %7s %7.2f %6.2f %13s %14s %4s %5s  %-24s %s\n' "$system" "$codec" "$period" \
    "$p50" "$p99" "$(awk -v f="$p50" -v r="$RATE" 'BEGIN { print f * 1000 / r }')" \
    "$(awk -v f="$p99" -v r="$RATE" 'BEGIN { print f * 1000 / r }')" "$lo-$hi" "$first->$last" \
    "$n" "$xruns" "${ratio:--}" "$note"
done
for tag in "${!ONE_WAY[@]}"; do
  echo "$tag: B's --stats one-way estimate at the end: ${ONE_WAY[$tag]} ms (leaves out the devices' blocks)"
done | sort
echo "readings: about 4 a second; Jamulus's halved (its server mixes the player back); p50 1st->4th:"
echo "the medians of the first and last quarter of the window (drift); xruns: JACK cycles in which a"
echo "client (any, the probe's included) did not finish in time during the window"
