#!/usr/bin/env bash
# Smoke test with a real client, the MCP Inspector CLI, against mcpproxy with
# the npm reference server (@modelcontextprotocol/server-everything) as
# upstreams "everything" (stdio) and "everything-http" (streamable HTTP): the smart endpoint /mcp (built-in tools, search,
# call_tool), the direct endpoint /mcp/all, the pass-through endpoint
# /mcp/server/everything and the legacy SSE endpoint /sse. Each step asserts
# on the JSON the inspector prints.
source "$(dirname "$0")/lib.sh"

build_all
isolate

# server-everything over streamable HTTP too, on a free loopback port (it
# binds every interface; it is only ever addressed on 127.0.0.1 and stopped
# by its pid).
for _ in 1 2 3 4 5; do
	HTTP_PORT=$((20000 + RANDOM % 40000))
	listening "$HTTP_PORT" && continue
	PORT=$HTTP_PORT spawn everything-http "$PEERS/node_modules/.bin/mcp-server-everything" streamableHttp
	wait_for 30 "server-everything on port $HTTP_PORT" listening "$HTTP_PORT" && alive "$LAST_PID" && break
done
mcpproxy_config "$TMP/mcp_config.json" "$(jq -n --arg cmd "$PEERS/node_modules/.bin/mcp-server-everything" \
	--arg url "http://127.0.0.1:$HTTP_PORT/mcp" \
	'[{name: "everything", command: $cmd}, {name: "everything-http", url: $url}]')"
start_mcpproxy "$TMP/mcp_config.json"
wait_ready everything
wait_ready everything-http

PASSED=0
FAILED=0

# check NAME JQ_FILTER INSPECTOR_ARGS... runs the inspector CLI and asserts
# that it exits 0 and that JQ_FILTER is true of its output.
check() {
	local name=$1 filter=$2 rc=0
	shift 2
	(cd "$TMP" && mcp-inspector --cli "$@") >"$TMP/out.json" 2>"$TMP/err.txt" || rc=$?
	if ((rc == 0)) && jq -e "$filter" "$TMP/out.json" >/dev/null 2>&1; then
		echo "ok   $name"
		PASSED=$((PASSED + 1))
		return
	fi
	echo "FAIL $name (exit $rc; want $filter)"
	echo "  mcp-inspector --cli $*"
	head -c 2000 "$TMP/out.json" | sed 's/^/  stdout: /'
	head -c 2000 "$TMP/err.txt" | sed 's/^/  stderr: /'
	FAILED=$((FAILED + 1))
}

# The first text content of a tool result, and that it is not an error.
text='(.isError | not) and (.content[0].type == "text")'

check "/mcp tools/list has the built-in tools" \
	'[.tools[].name] | contains(["retrieve_tools", "call_tool", "upstream_servers"])' \
	"$PROXY_URL/mcp" --method tools/list
check "/mcp retrieve_tools query=echo finds everything:echo" \
	"$text and (.content[0].text | fromjson | [.tools[].id] | index(\"everything:echo\"))" \
	"$PROXY_URL/mcp" --method tools/call --tool-name retrieve_tools --tool-arg query=echo
check "/mcp call_tool everything:echo" \
	"$text and .content[0].text == \"Echo: hello from the inspector\"" \
	"$PROXY_URL/mcp" --method tools/call --tool-name call_tool \
	--tool-arg name=everything:echo 'args={"message":"hello from the inspector"}'
check "/mcp/all tools/list has everything__echo" \
	'[.tools[].name] | index("everything__echo")' \
	"$PROXY_URL/mcp/all" --transport http --method tools/list
check "/mcp/all tools/call everything__echo" \
	"$text and .content[0].text == \"Echo: direct\"" \
	"$PROXY_URL/mcp/all" --transport http --method tools/call --tool-name everything__echo --tool-arg message=direct
check "/mcp/server/everything tools/list has echo, unprefixed" \
	'[.tools[].name] | index("echo") and (index("everything__echo") | not)' \
	"$PROXY_URL/mcp/server/everything" --transport http --method tools/list
check "/mcp/server/everything tools/call echo" \
	"$text and .content[0].text == \"Echo: passed through\"" \
	"$PROXY_URL/mcp/server/everything" --transport http --method tools/call --tool-name echo --tool-arg message=passed\ through
check "/sse tools/list has the built-in tools" \
	'[.tools[].name] | contains(["retrieve_tools", "call_tool"])' \
	"$PROXY_URL/sse" --transport sse --method tools/list
check "/sse call_tool everything:echo" \
	"$text and .content[0].text == \"Echo: over sse\"" \
	"$PROXY_URL/sse" --transport sse --method tools/call --tool-name call_tool \
	--tool-arg name=everything:echo 'args={"message":"over sse"}'

check "/mcp call_tool everything-http:echo (HTTP upstream)" \
	"$text and .content[0].text == \"Echo: over http\"" \
	"$PROXY_URL/mcp" --method tools/call --tool-name call_tool \
	--tool-arg name=everything-http:echo 'args={"message":"over http"}'
check "/mcp/all tools/list has everything-http__echo" \
	'[.tools[].name] | index("everything-http__echo")' \
	"$PROXY_URL/mcp/all" --transport http --method tools/list
check "/mcp/server/everything-http tools/call echo" \
	"$text and .content[0].text == \"Echo: http passed through\"" \
	"$PROXY_URL/mcp/server/everything-http" --transport http --method tools/call --tool-name echo --tool-arg message=http\ passed\ through

# tsclient NAME JQ_FILTER ARGS... runs test/mcp-peers/tsclient.mjs (the TypeScript SDK's
# client, many calls on one session) and asserts JQ_FILTER of its output.
tsclient() {
	local name=$1 filter=$2 rc=0
	shift 2
	(cd "$PEERS" && node tsclient.mjs "$@") >"$TMP/out.json" 2>"$TMP/err.txt" || rc=$?
	if ((rc == 0)) && jq -e "$filter" "$TMP/out.json" >/dev/null 2>&1; then
		echo "ok   $name: $(cat "$TMP/out.json")"
		PASSED=$((PASSED + 1))
		return
	fi
	echo "FAIL $name (exit $rc; want $filter)"
	head -c 2000 "$TMP/out.json" | sed 's/^/  stdout: /'
	head -c 2000 "$TMP/err.txt" | sed 's/^/  stderr: /'
	FAILED=$((FAILED + 1))
}

# Every call right; after the session's first moments (the proxy learns of a
# session once it has handled the client's initialized notice), plain calls
# are answered as JSON in front of the SDK.
allOK='.ok == .calls and .types["application/json"] >= (.calls - 2)'
tsclient "TypeScript client: /mcp call_tool everything:echo, 30 calls" "$allOK" \
	"$PROXY_URL/mcp" call_tool '{"name":"everything:echo","args":{"message":"ts"}}' "Echo: ts" 30
tsclient "TypeScript client: /mcp call_tool everything-http:echo, 30 calls" "$allOK" \
	"$PROXY_URL/mcp" call_tool '{"name":"everything-http:echo","args":{"message":"ts http"}}' "Echo: ts http" 30
tsclient "TypeScript client: /mcp/all everything__echo, 30 calls" "$allOK" \
	"$PROXY_URL/mcp/all" everything__echo '{"message":"ts direct"}' "Echo: ts direct" 30

echo "inspector: $PASSED passed, $FAILED failed"
((FAILED == 0))
