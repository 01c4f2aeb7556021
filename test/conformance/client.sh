#!/usr/bin/env bash
# Runs the official MCP conformance suite's client scenarios (--suite all)
# against mcpproxy's upstream connector: the suite starts a scenario's
# servers and runs
#
#   bin/mcpproxy upstream probe --auth follow --call-all <server URL>
#
# once per scenario (with MCP_CONFORMANCE_SCENARIO and, for some,
# MCP_CONFORMANCE_CONTEXT set). The probe connects the way the daemon
# connects to an upstream, logs in without a person (--auth follow, for
# such runs only), lists the tools and calls each of them.
#
# Scenarios may fail only if listed in client-baseline.yml (a listed
# scenario that passes fails the run, so the list stays honest). Exits
# non-zero on any unexpected result. KEEP_TMP=1 keeps the temp dir with the
# suite's log and its checks.json, stdout.txt and stderr.txt per scenario.
source "$(dirname "$0")/lib.sh"

BASELINE=$ROOT/test/conformance/client-baseline.yml

build_all
isolate

log "conformance client scenarios: mcpproxy upstream probe"
out=$TMP/results-client
rc=0
(cd "$TMP" && conformance client --suite all \
	--command "$BIN/mcpproxy upstream probe --auth follow --call-all" \
	--expected-failures "$BASELINE" -o "$out") >"$TMP/conformance-client.log" 2>&1 || rc=$?
# The summary: every scenario's line, the Total line and the baseline check.
sed -n '/=== SUITE SUMMARY ===/,$p' "$TMP/conformance-client.log" | sed 's/\x1b\[[0-9;]*m//g' |
	grep -v -e '^=== SUITE SUMMARY' -e '^$' || true
if ((rc != 0)); then
	echo "conformance client FAILED (exit $rc); checks that failed or warned, expected ones included:" >&2
	find "$out" -name checks.json -print0 |
		xargs -0 -r jq -r --arg root "$out/" 'input_filename as $f | .[] | select(.status == "FAILURE" or .status == "WARNING") |
			"  \($f | ltrimstr($root) | sub("-[0-9]{4}-[0-9]{2}-[0-9]{2}T.*"; "")): \(.id): \(.errorMessage // .description)"' >&2 || true
	grep -q 'SUITE SUMMARY' "$TMP/conformance-client.log" || tail -n 40 "$TMP/conformance-client.log" >&2
	exit 1
fi
echo "conformance client: as expected"
