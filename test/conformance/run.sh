#!/usr/bin/env bash
# Runs the official MCP conformance suite (server scenarios, --suite all)
# against mcpproxy's pass-through endpoint /mcp/server/{name}:
#
#   1. directly against the go-sdk conformance fixture (everything-server
#      over streamable HTTP), as the baseline: the suite and fixture agree;
#   2. through mcpproxy, with the fixture as a stdio upstream ("everything");
#   3. through mcpproxy, with the same HTTP fixture as a streamable-HTTP
#      upstream ("everything-http").
#
# Runs 2 and 3 may fail only scenarios listed in baseline.yml (a listed
# scenario that passes fails the run, so the list stays honest). Exits
# non-zero on any unexpected result. KEEP_TMP=1 keeps the temp dir with the
# logs and the suite's checks.json files.
source "$(dirname "$0")/lib.sh"

BASELINE=$ROOT/test/conformance/baseline.yml

build_all
install_fixture
isolate

# run_suite LABEL URL [ARGS...] runs the suite, prints its summary and
# records the outcome in FAILED.
FAILED=()
run_suite() {
	local label=$1 url=$2
	shift 2
	log "conformance ($label): $url"
	local out=$TMP/results-$label rc=0
	(cd "$TMP" && conformance server --url "$url" --suite all -o "$out" "$@") >"$TMP/conformance-$label.log" 2>&1 || rc=$?
	# The summary less the passing scenarios: failures, the Total line and
	# the baseline check.
	sed -n '/=== SUMMARY ===/,$p' "$TMP/conformance-$label.log" | sed 's/\x1b\[[0-9;]*m//g' |
		grep -v -e '^✓' -e '^=== SUMMARY' -e '^$' || true
	if ((rc != 0)); then
		FAILED+=("$label")
		echo "conformance ($label) FAILED (exit $rc); checks that failed or warned, expected ones included:" >&2
		find "$out" -name checks.json -print0 |
			xargs -0 -r jq -r '.[] | select(.status == "FAILURE" or .status == "WARNING") | "  \(.id): \(.errorMessage // .status)"' >&2 || true
		grep -q 'SUMMARY' "$TMP/conformance-$label.log" || tail -n 40 "$TMP/conformance-$label.log" >&2
		if [[ -s $TMP/mcpproxy.err ]]; then
			echo "mcpproxy log (last 20 lines):" >&2
			tail -n 20 "$TMP/mcpproxy.err" >&2
		fi
	fi
}

# The fixture over streamable HTTP on a free loopback port. A port taken
# between the probe and the bind makes the fixture exit; then try another.
start_fixture() {
	local port
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		listening "$port" && continue
		spawn fixture "$BIN/everything-server" -http="127.0.0.1:$port" -stateless=false
		local end=$((SECONDS + 10))
		while alive "$LAST_PID" && ! listening "$port" && ((SECONDS < end)); do
			sleep 0.1
		done
		if alive "$LAST_PID" && listening "$port"; then
			FIXTURE_URL=http://127.0.0.1:$port/mcp
			return
		fi
	done
	cat "$TMP/fixture.err" >&2
	echo "$0: could not start everything-server" >&2
	exit 1
}

start_fixture
run_suite direct "$FIXTURE_URL"

mcpproxy_config "$TMP/mcp_config.json" "$(jq -n --arg cmd "$BIN/everything-server" --arg url "$FIXTURE_URL" '[
	{name: "everything", command: $cmd},
	{name: "everything-http", protocol: "streamable-http", url: $url}
]')"
start_mcpproxy "$TMP/mcp_config.json"
wait_ready everything
wait_ready everything-http
run_suite proxy-stdio "$PROXY_URL/mcp/server/everything" --expected-failures "$BASELINE"
run_suite proxy-http "$PROXY_URL/mcp/server/everything-http" --expected-failures "$BASELINE"

if ((${#FAILED[@]} > 0)); then
	echo "conformance: FAILED: ${FAILED[*]}" >&2
	exit 1
fi
echo "conformance: direct, proxy-stdio and proxy-http as expected"
