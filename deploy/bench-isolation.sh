#!/usr/bin/env bash
# bench-isolation: what the engine process costs (`make bench-isolation`;
# docs/benchmarks.md). Two Warden servers load the same GGUF with the same
# settings, one with --engine in-process (llama.cpp in serve's own process,
# as before issue 18) and one with --engine process (the default: a
# sandboxed engine process per model, spoken to over a socketpair). Both
# stay loaded; `warden bench http` drives them in alternation, the same
# steady loads as make bench: 1 stream, then ISO_PARALLEL streams, for
# ISO_ROUNDS rounds each. Then `warden bench overhead` measures each
# server against the engine called directly in its own process. The
# summary prints both modes' means side by side and the process mode's
# difference.
#
# Environment (defaults for running it by hand; the Makefile passes these):
#   WARDEN          the binary                               [bin/warden]
#   BENCH_MODEL     the GGUF both serve                      [build/tinyllama-q4_0.gguf]
#   ISO_ROUNDS      rounds of each load per server           [3]
#   ISO_DURATION_1  steady window, 1 stream                  [30s]
#   ISO_DURATION_8  steady window, ISO_PARALLEL streams      [40s]
#   ISO_DURATION    both windows at once (e.g. 8s for a smoke run)
#   ISO_RAMP        ramp of the concurrent load              [8s]
#   ISO_MAX_TOKENS  tokens per request                       [64]
#   ISO_CTX / ISO_PARALLEL                                   [512 / 8]
#   ISO_OVERHEAD_ROUNDS  bench overhead rounds per server (0: skip) [7]
#   PORT_IN / PORT_PROC                                      [18090 / 18091]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

WARDEN=${WARDEN:-bin/warden}
BENCH_MODEL=${BENCH_MODEL:-build/tinyllama-q4_0.gguf}
ISO_ROUNDS=${ISO_ROUNDS:-3}
ISO_DURATION_1=${ISO_DURATION:-${ISO_DURATION_1:-30s}}
ISO_DURATION_8=${ISO_DURATION:-${ISO_DURATION_8:-40s}}
ISO_RAMP=${ISO_RAMP:-8s}
ISO_MAX_TOKENS=${ISO_MAX_TOKENS:-64}
ISO_CTX=${ISO_CTX:-512}
ISO_PARALLEL=${ISO_PARALLEL:-8}
ISO_OVERHEAD_ROUNDS=${ISO_OVERHEAD_ROUNDS:-7}
PORT_IN=${PORT_IN:-18090}
PORT_PROC=${PORT_PROC:-18091}

out=$root/build/bench-isolation
name=$(basename "$BENCH_MODEL" .gguf)
die() { echo "bench-isolation: $*" >&2; exit 1; }
say() { echo "bench-isolation: $*" >&2; }

[ -x "$WARDEN" ] || die "$WARDEN missing: run make build"
[ -f "$BENCH_MODEL" ] || die "$BENCH_MODEL missing: $WARDEN testmodel --preset tinyllama $BENCH_MODEL"
command -v curl >/dev/null || die "needs curl"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.txt

grep -m1 'model name' /proc/cpuinfo | sed 's/^/  /'
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx_vnni|avx512f|avx512_vnni|avx512_bf16|amx_int8)$' | paste -sd ' ' - | sed 's/^/  flags: /'
echo "  $(nproc) cores; $ISO_PARALLEL sequences of $ISO_CTX tokens; $ISO_MAX_TOKENS tokens per request"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_url() { # $1: URL, $2: log to show on failure
	local i
	for i in $(seq 600); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	tail -n 30 "$2" >&2
	die "$1 did not answer within 2 minutes"
}

for mode in in-process process; do
	port=$PORT_IN
	[ "$mode" = process ] && port=$PORT_PROC
	! curl -s -o /dev/null "http://127.0.0.1:$port/" || die "port $port is in use (PORT_IN / PORT_PROC)"
	data=build/bench-isolation-data-$mode
	"$WARDEN" serve --model "$BENCH_MODEL" --allow-unpinned --ctx "$ISO_CTX" --parallel "$ISO_PARALLEL" \
		--engine "$mode" --port "$port" --data-dir "$data" --log-level warn >"$out/$mode.log" 2>&1 &
	pids+=($!)
	wait_url "http://127.0.0.1:$port/healthz" "$out/$mode.log"
done
token_in=$("$WARDEN" token issue --data-dir build/bench-isolation-data-in-process --sub bench --role user)
token_proc=$("$WARDEN" token issue --data-dir build/bench-isolation-data-process --sub bench --role user)

http() { # $1: mode; then bench http flags
	local mode=$1 port=$PORT_IN token=$token_in
	shift
	[ "$mode" = process ] && port=$PORT_PROC token=$token_proc
	"$WARDEN" bench http --url "http://127.0.0.1:$port" --token "$token" --model "$name" \
		--max-tokens "$ISO_MAX_TOKENS" "$@"
}

say "warming up both servers"
for mode in in-process process; do
	http "$mode" --clients "$ISO_PARALLEL" --requests 1 >/dev/null
done

field() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1"; }
loads=("1:--clients 1 --duration $ISO_DURATION_1"
	"$ISO_PARALLEL:--clients $ISO_PARALLEL --ramp $ISO_RAMP --duration $ISO_DURATION_8")
for l in "${loads[@]}"; do
	k=${l%%:*} flags=${l#*:}
	say "load: $k stream(s), $flags"
	for round in $(seq "$ISO_ROUNDS"); do
		for mode in in-process process; do
			file=$out/steady-$k-$mode-$round.json
			http "$mode" $flags --save "$file" | sed "s/^/  $mode round $round: /"
		done
	done
done

if [ "$ISO_OVERHEAD_ROUNDS" -gt 0 ]; then
	for mode in in-process process; do
		port=$PORT_IN token=$token_in
		[ "$mode" = process ] && port=$PORT_PROC token=$token_proc
		say "bench overhead against the $mode server"
		"$WARDEN" bench overhead --model "$BENCH_MODEL" --name "$name" --ctx "$ISO_CTX" \
			--url "http://127.0.0.1:$port" --token "$token" --log-level warn --rounds "$ISO_OVERHEAD_ROUNDS" \
			>"$out/overhead-$mode.txt" 2>&1 || { cat "$out/overhead-$mode.txt" >&2; die "bench overhead failed"; }
		sed "s/^/  $mode: /" "$out/overhead-$mode.txt"
	done
fi

mean() { # $1: load, $2: mode, $3: field; the mean over rounds, and the range
	for f in "$out/steady-$1-$2-"*.json; do field "$f" "$3"; done |
		awk '{ n++; s += $1; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { printf "%.3f %.3f %.3f\n", s/n, lo, hi }'
}
echo
echo "| streams | measure | in-process (mean; range) | process (mean; range) | process vs in-process |"
echo "| --- | --- | --- | --- | --- |"
for k in 1 "$ISO_PARALLEL"; do
	for m in aggregate_tok_per_s:tok/s ttft_p50_s:"TTFT p50 s" ttft_p95_s:"TTFT p95 s"; do
		f=${m%%:*} label=${m#*:}
		read -r a alo ahi <<<"$(mean "$k" in-process "$f")"
		read -r b blo bhi <<<"$(mean "$k" process "$f")"
		pct=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%+.1f %%", (b - a) / a * 100; else print "n/a" }')
		echo "| $k | $label | $a ($alo–$ahi) | $b ($blo–$bhi) | $pct |"
	done
done
errors=$(for f in "$out"/steady-*.json; do field "$f" errors; done | awk '{ s += $1 } END { print s + 0 }')
echo
echo "requests that failed: $errors"
