#!/usr/bin/env bash
# bench-peer: Warden against its peer, Ollama, on the same GGUF, the same
# load and the same machine, in one run (`make bench-peer`; docs/benchmarks.md).
#
# The peer is Ollama v0.17.4 (the version of the ollama module Warden's
# llama.cpp comes from) built from its Go module with -O3 -march=native and
# ggml's weight repacking on, in a scratch module under build/peer/ that is
# no part of Warden's go.mod. Both servers are started, loaded and warmed
# up, then `warden bench http` drives them in turn with the same load:
# Warden, Ollama, Warden, Ollama, ... for PEER_ROUNDS rounds of each load.
#
# Both servers stay loaded for the whole run, and only the one being
# measured gets requests. An idle server costs no CPU (llama.cpp's threads
# sleep between batches; the script measures the idle one's CPU time during
# every run and prints it), and keeping both loaded spares each round a
# model load and a cold page cache for the one that would be restarted.
#
# Sizes, made equal:
#   context  Warden's --ctx is per sequence (its KV cache holds ctx ×
#            parallel cells, engine/llamacpp/memory.go) and so is Ollama's
#            num_ctx (KvSize = num_ctx × OLLAMA_NUM_PARALLEL, llm/server.go):
#            both get PEER_CTX per sequence, PEER_PARALLEL sequences.
#   threads  Warden uses runtime.NumCPU() threads; Ollama defaults to the
#            physical cores, so num_thread is set to the same count (nproc).
#   batch    512 in both (Warden's default; Ollama's num_batch default,
#            capped at num_ctx).
#   sampling the requests ask for temperature 0 in both; Ollama's default
#            repeat_penalty of 1.1 is set to 1, Warden's default, and its
#            template to the bare prompt, so both decode the same way.
#   stopping Warden honours ignore_eos, Ollama does not: an Ollama request
#            may end before --max-tokens at an end-of-generation token. The
#            throughput counts the tokens each server reports, and the
#            table shows the mean tokens per request of each.
#
# Environment (the Makefile passes these; defaults for running it by hand):
#   WARDEN           the Warden binary                      [bin/warden]
#   BENCH_MODEL      the GGUF both serve                    [build/tinyllama-q4_0.gguf]
#   CGO_CPPFLAGS/CGO_CFLAGS/CGO_CXXFLAGS  the flags bin/warden was built
#                    with (make exports them); printed, and the peer's
#                    CPPFLAGS default to the same
#   PEER_VERSION     ollama module version                  [v0.17.4]
#   PEER_CPPFLAGS    the peer's CGO_CPPFLAGS [-I build/include -DGGML_USE_CPU_REPACK]
#   PEER_CFLAGS      the peer's CGO_CFLAGS and CGO_CXXFLAGS [-O3 -march=native,
#                    less AMX on x86 where the compiler knows -mno-amx-*]
#   PEER_ROUNDS      rounds of each load per server         [2]
#   PEER_DURATION_1  steady window, 1 stream                [30s]
#   PEER_DURATION_8  steady window, PEER_PARALLEL streams   [48s]
#   PEER_DURATION    both windows at once (e.g. 10s for a smoke run)
#   PEER_RAMP        ramp of the concurrent load            [12s]
#   PEER_MAX_TOKENS  tokens per request                     [64]
#   PEER_CTX / PEER_PARALLEL / PEER_THREADS                 [512 / 8 / nproc]
#   WARDEN_PORT / PEER_PORT                                  [18080 / 18081]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

WARDEN=${WARDEN:-bin/warden}
BENCH_MODEL=${BENCH_MODEL:-build/tinyllama-q4_0.gguf}
PEER_VERSION=${PEER_VERSION:-v0.17.4}
PEER_ROUNDS=${PEER_ROUNDS:-2}
PEER_DURATION_1=${PEER_DURATION:-${PEER_DURATION_1:-30s}}
PEER_DURATION_8=${PEER_DURATION:-${PEER_DURATION_8:-48s}}
PEER_RAMP=${PEER_RAMP:-12s}
PEER_MAX_TOKENS=${PEER_MAX_TOKENS:-64}
PEER_CTX=${PEER_CTX:-512}
PEER_PARALLEL=${PEER_PARALLEL:-8}
PEER_THREADS=${PEER_THREADS:-$(nproc)}
WARDEN_PORT=${WARDEN_PORT:-18080}
PEER_PORT=${PEER_PORT:-18081}

peer_dir=$root/build/peer
include=$root/build/include
out=$root/build/bench-peer
model_abs=$(cd "$(dirname "$BENCH_MODEL")" && pwd)/$(basename "$BENCH_MODEL")
name=$(basename "$BENCH_MODEL" .gguf)

die() { echo "bench-peer: $*" >&2; exit 1; }
say() { echo "bench-peer: $*" >&2; }

[ -x "$WARDEN" ] || die "$WARDEN missing: run make build"
[ -f "$model_abs" ] || die "$BENCH_MODEL missing: $WARDEN testmodel --preset tinyllama $BENCH_MODEL"
[ -f "$include/miniaudio/miniaudio.h" ] || die "$include missing: run make deps"
command -v curl >/dev/null || die "needs curl"

# The peer's flags. -march=native on a CPU with AMX defines __AMX_INT8__,
# and then ggml-cpu.cpp refers to the AMX buffer type, whose amx.cpp the
# cgo package does not compile: the link fails. Turning AMX off (where the
# compiler knows the flags) keeps every other native extension.
cc=${CC:-gcc}
if [ -z "${PEER_CFLAGS:-}" ]; then
	PEER_CFLAGS="-O3 -march=native"
	if [ "$(uname -m)" = x86_64 ] &&
		echo 'int main(void){return 0;}' | "$cc" -march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -x c -o /dev/null - 2>/dev/null; then
		PEER_CFLAGS="$PEER_CFLAGS -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
	fi
fi
PEER_CPPFLAGS=${PEER_CPPFLAGS:-"-I$include -DGGML_USE_CPU_REPACK"}

# ---- build the peer ---------------------------------------------------------
# A module of its own under build/ (gitignored), so Ollama is never a
# dependency of Warden; go writes its go.sum (from the checksum database).
# The build is cached: it is redone only when the version, flags or Go change.
ollama=$peer_dir/ollama
stamp="version=$PEER_VERSION
go=$(go version)
CGO_CPPFLAGS=$PEER_CPPFLAGS
CGO_CFLAGS=$PEER_CFLAGS
CGO_CXXFLAGS=$PEER_CFLAGS"
mkdir -p "$peer_dir" "$out"
rm -f "$out"/steady-*.json "$out"/steady-*.json.cpu "$out/summary.md"
if [ -x "$ollama" ] && [ "$(cat "$peer_dir/stamp" 2>/dev/null)" = "$stamp" ]; then
	say "peer: $ollama is built with these flags already"
else
	say "peer: building ollama $PEER_VERSION with $PEER_CFLAGS (compiles llama.cpp: minutes)"
	rm -f "$peer_dir/stamp"
	cat >"$peer_dir/go.mod" <<EOF
module peer

go 1.24.1

require github.com/ollama/ollama $PEER_VERSION
EOF
	# A tools file keeps the main package's dependencies in go.mod for tidy.
	cat >"$peer_dir/tools.go" <<'EOF'
//go:build tools

package peer

import _ "github.com/ollama/ollama"
EOF
	rm -f "$peer_dir/go.sum"
	(cd "$peer_dir" && GOFLAGS=-mod=mod go mod tidy) || die "peer: go mod tidy failed"
	(cd "$peer_dir" && CGO_ENABLED=1 CGO_CPPFLAGS="$PEER_CPPFLAGS" CGO_CFLAGS="$PEER_CFLAGS" CGO_CXXFLAGS="$PEER_CFLAGS" \
		go build -o ollama.tmp github.com/ollama/ollama) || die "peer: go build failed"
	mv "$peer_dir/ollama.tmp" "$ollama"
	printf '%s\n' "$stamp" >"$peer_dir/stamp"
fi

# ---- servers ----------------------------------------------------------------
# Each runs in a session of its own, so the cleanup (and the idle-CPU
# measurement) covers Ollama's runner child too.
warden_pg="" peer_pg=""
stop_group() { # $1: process group; TERM, then KILL after 10 s
	local pg=$1 i
	[ -n "$pg" ] || return 0
	kill -TERM -- "-$pg" 2>/dev/null || { kill -TERM "$pg" 2>/dev/null; return 0; }
	for i in $(seq 20); do
		kill -0 -- "-$pg" 2>/dev/null || return 0
		sleep 0.5
	done
	kill -KILL -- "-$pg" 2>/dev/null || true
}
cleanup() {
	stop_group "$warden_pg"
	stop_group "$peer_pg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# group_ticks prints the CPU time (clock ticks) used so far by process group $1.
group_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pg="$1" '{ sub(/^.*\) /, ""); if ($3 == pg) t += $12 + $13 } END { print t + 0 }'
}
# busy_ticks prints the CPU time (clock ticks) all CPUs have spent busy.
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

own_group() { # $1: pid that setsid makes a process group leader (it may not have yet)
	local i
	for i in $(seq 50); do
		[ "$(ps -o pgid= -p "$1" 2>/dev/null | tr -d ' ')" = "$1" ] && return 0
		sleep 0.1
	done
	die "process $1 is not in a process group of its own"
}

wait_url() { # $1: URL, $2: seconds, $3: log to show on failure
	local i
	for i in $(seq $(($2 * 5))); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	tail -n 30 "$3" >&2
	die "$1 did not answer within $2 s"
}

for port in "$WARDEN_PORT" "$PEER_PORT"; do
	! curl -s -o /dev/null "http://127.0.0.1:$port/" || die "port $port is in use (WARDEN_PORT / PEER_PORT)"
done

# Warden exactly as `make bench` serves it: auth and audit on.
token=$("$WARDEN" token issue --data-dir build/bench-data --sub bench --role user)
setsid "$WARDEN" serve --model "$BENCH_MODEL" --allow-unpinned --ctx "$PEER_CTX" --parallel "$PEER_PARALLEL" \
	--port "$WARDEN_PORT" --data-dir build/bench-data --log-level warn >"$out/warden.log" 2>&1 &
warden_pg=$!
own_group "$warden_pg"
wait_url "http://127.0.0.1:$WARDEN_PORT/healthz" 120 "$out/warden.log"

# Ollama, with its state under build/peer (models, and the key it makes in
# $HOME/.ollama), every model kept loaded.
mkdir -p "$peer_dir/models" "$peer_dir/home"
OLLAMA_HOST=127.0.0.1:$PEER_PORT OLLAMA_MODELS=$peer_dir/models HOME=$peer_dir/home \
	OLLAMA_NUM_PARALLEL=$PEER_PARALLEL OLLAMA_KEEP_ALIVE=-1 OLLAMA_MAX_LOADED_MODELS=1 \
	setsid "$ollama" serve >"$out/ollama.log" 2>&1 &
peer_pg=$!
own_group "$peer_pg"
wait_url "http://127.0.0.1:$PEER_PORT/api/version" 60 "$out/ollama.log"
cat >"$peer_dir/Modelfile" <<EOF
FROM $model_abs
TEMPLATE "{{ .Prompt }}"
PARAMETER num_ctx $PEER_CTX
PARAMETER num_thread $PEER_THREADS
PARAMETER repeat_penalty 1
EOF
OLLAMA_HOST=127.0.0.1:$PEER_PORT HOME=$peer_dir/home "$ollama" create "$name" -f "$peer_dir/Modelfile" >"$out/ollama-create.log" 2>&1 ||
	{ cat "$out/ollama-create.log" >&2; die "ollama create failed"; }

http() { # $1: port; then bench http flags
	local port=$1
	shift
	"$WARDEN" bench http --url "http://127.0.0.1:$port" --token "$token" --model "$name" \
		--max-tokens "$PEER_MAX_TOKENS" "$@"
}

# Warm-up: Ollama loads the model at its first request; one request per
# sequence touches every slot of each.
say "warming up both servers"
http "$WARDEN_PORT" --clients "$PEER_PARALLEL" --requests 1 | sed 's/^/  warden warm-up: /'
http "$PEER_PORT" --clients "$PEER_PARALLEL" --requests 1 | sed 's/^/  ollama warm-up: /'

# Ollama must have loaded the model on the CPU with every sequence and the
# threads asked for; its runner logs llama.cpp's context parameters.
grep -q "n_seq_max *= *$PEER_PARALLEL\b" "$out/ollama.log" ||
	{ grep -E 'n_seq_max|n_ctx|parallel' "$out/ollama.log" >&2 || true; die "ollama did not load $PEER_PARALLEL sequences (see $out/ollama.log)"; }
grep -qE 'offloaded [1-9][0-9]*/[0-9]+ layers to GPU' "$out/ollama.log" && die "ollama put layers on a GPU (see $out/ollama.log)"
peer_load=$(grep -oE 'Parallel:[0-9]+|KvSize:[0-9]+|BatchSize:[0-9]+|NumThreads:[0-9]+|n_ctx_seq *= *[0-9]+|n_seq_max *= *[0-9]+|CPU_REPACK model buffer size *= *[0-9.]+ MiB' \
	"$out/ollama.log" | sed 's/  */ /g' | sort -u | paste -sd ';' - | sed 's/;/; /g')
[ -n "$peer_load" ] || peer_load="(not in its log)"
grep -q "NumThreads:$PEER_THREADS " "$out/ollama.log" || say "warning: ollama's load request does not show NumThreads:$PEER_THREADS (see $out/ollama.log)"
grep -q 'CPU_REPACK' "$out/ollama.log" || say "warning: ollama's log shows no CPU_REPACK buffer: are its weights repacked?"

# ---- measure ----------------------------------------------------------------
hz=$(getconf CLK_TCK)
field() { # $1: JSON file, $2: field name (the report is one flat object)
	sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1"
}
runs=()
# measure runs one load against one server. Around it, it reads the CPU
# time of the measured server, of the idle one and of the whole machine:
# the rest (the bench client, and whatever else runs) is printed as the
# cores that others used, so a run disturbed by other work shows as such.
measure() { # $1: load label, $2: server (warden|ollama), $3: round; then bench http flags
	local load=$1 server=$2 round=$3 port pg idle_pg file t0 t1 me0 me1 idle0 idle1 all0 all1 others
	shift 3
	if [ "$server" = warden ]; then port=$WARDEN_PORT pg=$warden_pg idle_pg=$peer_pg; else port=$PEER_PORT pg=$peer_pg idle_pg=$warden_pg; fi
	file=$out/$load-$server-$round.json
	t0=$(date +%s%N) me0=$(group_ticks "$pg") idle0=$(group_ticks "$idle_pg") all0=$(busy_ticks)
	http "$port" "$@" --save "$file" | sed "s/^/  $server round $round: /"
	t1=$(date +%s%N) me1=$(group_ticks "$pg") idle1=$(group_ticks "$idle_pg") all1=$(busy_ticks)
	others=$(awk -v t="$(((all1 - all0) - (me1 - me0) - (idle1 - idle0)))" -v hz="$hz" -v ns="$((t1 - t0))" \
		'BEGIN { printf "%.2f", t / hz / (ns / 1e9) }')
	echo "    CPU meanwhile: idle server $(awk -v t="$((idle1 - idle0))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') s, others (bench client included) $others cores"
	echo "$((idle1 - idle0)) $others" >"$file.cpu"
	runs+=("$file")
}

loads=("1:--clients 1 --duration $PEER_DURATION_1"
	"$PEER_PARALLEL:--clients $PEER_PARALLEL --ramp $PEER_RAMP --duration $PEER_DURATION_8")
for l in "${loads[@]}"; do
	k=${l%%:*} flags=${l#*:}
	say "load: $k stream(s), $flags, $PEER_MAX_TOKENS tokens per request"
	for round in $(seq "$PEER_ROUNDS"); do
		for server in warden ollama; do
			# shellcheck disable=SC2086 # flags are words
			measure "steady-$k" "$server" "$round" $flags
		done
	done
done

# ---- report -----------------------------------------------------------------
# Per load and server: the mean over the rounds of the aggregate decode
# throughput, TTFT p95, and completion tokens per request, with the range
# of the throughput; the idle server's CPU time during the runs, and the
# most cores that other processes used during any of them.
# TTFT and tokens per request are means over the runs in which some
# request started in the window and finished (a window shorter than one
# request can have none; a short smoke run, say).
summary() { # $1: load label, $2: server; prints: mean_tps min max ttft95 tok_per_req errors idle_s others_max
	local f tps ttft tok req err
	for f in "$out/$1-$2-"*.json; do
		tps=$(field "$f" aggregate_tok_per_s) ttft=$(field "$f" ttft_p95_s) req=$(field "$f" requests)
		tok=$(field "$f" completion_tokens_mean) err=$(field "$f" errors)
		echo "$tps $ttft ${tok:-0} ${err:-0} $((${req:-0} - ${err:-0})) $(cat "$f.cpu")"
	done | awk -v hz="$hz" '{ n++; s += $1; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1; e += $4; i += $6
			if ($7 > o) o = $7
			if ($5 > 0) { m++; t += $2; k += $3 } }
		END { if (m) printf "%.2f %.2f %.2f %.3fs %.1f %d %.2f %.2f\n", s/n, lo, hi, t/m, k/m, e, i/hz, o
			else printf "%.2f %.2f %.2f n/a n/a %d %.2f %.2f\n", s/n, lo, hi, e, i/hz, o }'
}

cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //')
simd=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512.*|amx.*|avx_vnni)$' | paste -sd ' ' -)
report=$out/summary.md
{
	echo "## bench-peer: Warden against Ollama $PEER_VERSION"
	echo
	echo "- CPU: $cpu, $(nproc) threads; SIMD: ${simd:-none of avx2/avx512/amx/avx_vnni}"
	echo "- Warden: $WARDEN ($("$WARDEN" version 2>/dev/null | head -n1 || echo '?')), CGO_CPPFLAGS='${CGO_CPPFLAGS:-?}' CGO_CFLAGS='${CGO_CFLAGS:-?}'"
	echo "- Ollama: $ollama, CGO_CPPFLAGS='$PEER_CPPFLAGS' CGO_CFLAGS/CXXFLAGS='$PEER_CFLAGS'"
	echo "- Ollama loaded: $peer_load"
	echo "- Model: $BENCH_MODEL; ctx $PEER_CTX per sequence, $PEER_PARALLEL sequences, $PEER_THREADS threads; $PEER_MAX_TOKENS tokens per request"
	echo "- Alternating Warden, Ollama, $PEER_ROUNDS rounds each per load; figures are means over the rounds (tok/s range in brackets)"
	echo
	echo "| load | Warden tok/s | Ollama tok/s | Warden/Ollama | TTFT p95 Warden | TTFT p95 Ollama | tokens/request W / O | errors W / O | idle server's CPU during W / O runs | others' cores, most, during W / O runs |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	busy=0
	for l in "${loads[@]}"; do
		k=${l%%:*}
		read -r wt wlo whi wttft wtok werr widle woth <<<"$(summary "steady-$k" warden)"
		read -r ot olo ohi ottft otok oerr oidle ooth <<<"$(summary "steady-$k" ollama)"
		busy=$(awk -v b="$busy" -v w="$woth" -v o="$ooth" 'BEGIN { m = b; if (w > m) m = w; if (o > m) m = o; print m }')
		ratio=$(awk -v a="$wt" -v b="$ot" 'BEGIN { if (b > 0) printf "%.2fx", a/b; else print "n/a" }')
		label="$k stream"
		[ "$k" = 1 ] || label="$k streams"
		# widle: the CPU time Ollama used while Warden was measured; oidle the reverse.
		echo "| $label steady | $wt [$wlo–$whi] | $ot [$olo–$ohi] | $ratio | $wttft | $ottft | $wtok / $otok | $werr / $oerr | ${widle}s / ${oidle}s | $woth / $ooth |"
	done
	# The bench client itself takes some CPU (a few hundredths of a core
	# per stream); more than that means other work shared the machine.
	if awk -v b="$busy" 'BEGIN { exit !(b > 0.3) }'; then
		echo
		echo "WARNING: other processes used up to $busy cores during a run: the machine was not quiet, and these figures are disturbed."
	fi
} >"$report"
echo
cat "$report"
echo
echo "bench-peer: reports of each run, logs and this table ($report) are in $out/"
