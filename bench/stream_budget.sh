#!/bin/sh
# Generation under memory budgets of 100%, 50% and 25% of the weights
# (duet bench --mem-budget, CPU backend unless --backend), each beside its
# roofline
#   1 / (resident_bytes / mem_bw + streamed_bytes / read_bw)
# where read_bw is io_uring's cold O_DIRECT bandwidth on the same file
# (duet-bench-io) and mem_bw is what the fully resident run achieves
# (model bytes x its tokens/s: the executor's own speed over resident
# weights, not the memory bus's).
#
#   bench/stream_budget.sh FILE [BUILD_DIR] [-n TOKENS] [-r RUNS] [--backend cpu|vulkan]
set -eu
[ $# -ge 1 ] || { echo "usage: $0 FILE [BUILD_DIR] [-n TOKENS] [-r RUNS] [--backend cpu|vulkan]" >&2; exit 2; }
file=$1; shift
build=$(pwd)/build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
tg=16 reps=3 backend=cpu
while [ $# -gt 0 ]; do
	case $1 in
	--backend) backend=$2; shift 2 ;;
	-n) tg=$2; shift 2 ;;
	-r) reps=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
field() { # field NAME JSON -> the number (or "null")
	echo "$2" | sed -n "s/.*\"$1\": \([0-9.e+-]*\|null\).*/\1/p"
}
read_bw=$("$build/duet-bench-io" "$file" --io uring -r "$reps" |
	sed -n 's/.*"gbps": \([0-9.]*\).*/\1/p')
[ -n "$read_bw" ] || { echo "duet-bench-io could not read $file" >&2; exit 1; }
echo "read bandwidth (io_uring, O_DIRECT, cold): $read_bw GB/s; backend $backend"
mem_bw=
for pct in 100 50 25; do
	json=$("$build/duet" bench -m "$file" -p 8 -n "$tg" -r "$reps" --backend "$backend" \
		--mem-budget "$pct%" --json 2>&1) || { echo "$pct%: $json"; continue; }
	tps=$(field tg_tps "$json")
	res=$(field resident_bytes "$json")
	str=$(field streamed_bytes_per_token "$json")
	[ -n "$mem_bw" ] || mem_bw=$(awk -v r="$res" -v t="$tps" 'BEGIN { print r * t / 1e9 }')
	awk -v p="$pct" -v t="$tps" -v r="$res" -v s="$str" -v m="$mem_bw" \
		-v b="$read_bw" -v rg="$(field read_gbps "$json")" \
		-v c="$(field read_cpu_s_per_gb "$json")" 'BEGIN {
		roof = 1 / (r / (m * 1e9) + s / (b * 1e9))
		printf "budget %3d%%: tg %7.2f t/s, roofline %7.2f (%5.1f%%), resident %.1f MB, streamed %.1f MB/token, read %s GB/s, reader CPU %s s/GB\n",
			p, t, roof, 100 * t / roof, r / 1e6, s / 1e6, rg, c }'
done
