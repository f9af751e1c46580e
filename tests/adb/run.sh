#!/bin/sh
# The adb benchmark end to end against the stand-in adb (fake-adb): push,
# runs of every mode, JSON pulled back, the table, then bench/plot's page.
#   tests/adb/run.sh BUILD_DIR
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/duet-adb.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ADB="$src/tests/adb/fake-adb" FAKE_ADB_ROOT="$work/phone"
fail() { echo "FAIL: $*" >&2; exit 1; }
L=$src/models/austen-llm-q8_0.gguf S=$src/models/austen-slm-q8_0.gguf
"$src/bench/adb/duet-bench-phone" --models "$L,$S" --binary "$build/duet" \
	--serial fake0 --out "$work/out" --budgets 100%,50% -p 16 -n 8 -r 1 \
	--backend cpu >"$work/table" 2>"$work/err" || { cat "$work/err"; fail "exit $?"; }
cat "$work/table"
for run in llm-100 llm-50 slm spec cascade; do
	f=$work/out/$run.json
	[ -s "$f" ] || fail "no $run.json"
	grep -q '"tg_tps": [0-9]' "$f" || fail "$run.json has no tg_tps: $(cat "$f")"
	grep -q "^$run " "$work/table" || fail "no row for $run in the table"
done
grep -q '"mem_budget_bytes": [1-9]' "$work/out/llm-50.json" || fail "the 50% run had no budget"
grep -q '"mode": "spec"' "$work/out/spec.json" || fail "spec.json is not a spec run"
grep -q 'adb -s fake0 push .*/duet /data/local/tmp/duet/duet' "$FAKE_ADB_ROOT/adb.log" ||
	fail "the binary was not pushed: $(cat "$FAKE_ADB_ROOT/adb.log")"
grep -q 'adb -s fake0 pull /data/local/tmp/duet/cascade.json' "$FAKE_ADB_ROOT/adb.log" ||
	fail "cascade.json was not pulled"
"$src/bench/plot" "$work"/out/*.json >"$work/page.html"
grep -q '<svg' "$work/page.html" || fail "no chart in the page"
[ "$(grep -c '<rect' "$work/page.html")" -ge 10 ] || fail "too few bars"
grep -q 'austen-slm-q8_0.gguf' "$work/page.html" || fail "the SLM run is not in the page"
# bad input: a clear error, no crash
if "$src/bench/adb/duet-bench-phone" --models "$work/none.gguf" --binary "$build/duet" \
	2>"$work/err2"; then fail "a missing model passed"; fi
grep -q "no model file" "$work/err2" || fail "unclear error: $(cat "$work/err2")"
if ANDROID_NDK_HOME= ANDROID_NDK= "$src/bench/adb/duet-bench-phone" --models "$L" \
	2>"$work/err3"; then fail "no binary and no NDK passed"; fi
grep -q "ANDROID_NDK_HOME" "$work/err3" || fail "unclear error: $(cat "$work/err3")"
echo "adb benchmark flow: ok"
