#!/bin/sh
# Raw read bandwidth of duet's readers (io_uring, Linux AIO, pread pool,
# mmap) beside fio with the io_uring engine, O_DIRECT, the same file and
# block size and queue depth. fio is Debian's package (apt-get install fio);
# the file is read cold (O_DIRECT; the page cache is dropped for mmap).
#
#   bench/io_vs_fio.sh FILE [BUILD_DIR] [-b BLOCK] [-q DEPTH] [-r RUNS]
# Prints duet-bench-io's JSON, then one line per reader with its ratio to fio.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 FILE [BUILD_DIR] [-b BLOCK] [-q DEPTH] [-r RUNS]" >&2; exit 2; }
file=$1; shift
build=$(pwd)/build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
bs=1048576 qd=32 runs=3
while [ $# -gt 0 ]; do
	case $1 in
	-b) bs=$2; shift 2 ;;
	-q) qd=$2; shift 2 ;;
	-r) runs=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
command -v fio >/dev/null || { echo "needs fio: apt-get install -y fio" >&2; exit 1; }
[ -x "$build/duet-bench-io" ] || { echo "no $build/duet-bench-io: build first" >&2; exit 1; }
json=$("$build/duet-bench-io" "$file" -b "$bs" -q "$qd" -r "$runs")
echo "$json"
# fio: median of the runs, KiB/s (terse field 7) -> GB/s
fio_runs=""
i=0
while [ $i -lt "$runs" ]; do
	kib=$(fio --name=duet --filename="$file" --rw=read --bs="$bs" \
		--iodepth="$qd" --ioengine=io_uring --direct=1 --invalidate=1 \
		--minimal | awk -F';' '{print $7}')
	fio_runs="$fio_runs $kib"
	i=$((i + 1))
done
fio_gbps=$(echo $fio_runs | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {printf "%.3f", v[int((NR+1)/2)]*1024/1e9}')
echo "fio io_uring O_DIRECT bs=$bs iodepth=$qd: $fio_gbps GB/s (median of $runs)"
echo "$json" | grep -o '"io": "[a-z]*"[^}]*"gbps": [0-9.]*' |
	sed 's/"io": "\([a-z]*\)".*"gbps": \([0-9.]*\)/\1 \2/' |
	while read -r io g; do
		awk -v io="$io" -v g="$g" -v f="$fio_gbps" \
			'BEGIN { printf "%-6s %7.3f GB/s  %5.1f%% of fio\n", io, g, 100 * g / f }'
	done
