# Shared by run.sh and inspector.sh: builds, temp dir, process cleanup and a
# mcpproxy started on a free loopback port. Source it; it sets ROOT, PEERS,
# BIN and TMP and installs an EXIT trap that stops every process started
# with spawn (by pid) and removes TMP (kept when KEEP_TMP=1).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS=$ROOT/test/mcp-peers
BIN=$ROOT/bin
# The go-sdk conformance fixture; the same version the proxy is built with.
GO_SDK_VERSION=${GO_SDK_VERSION:-v1.8.0}
API_KEY=conformance-key

for tool in go npm curl jq; do
	command -v "$tool" >/dev/null || { echo "$0: $tool not found" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcpproxy-conformance.XXXXXX")
PIDS=()

cleanup() {
	local rc=$? pid i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${KEEP_TMP:-} == 1 ]]; then
		echo "kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== [${SECONDS}s] $*" >&2; }

# build_all builds bin/mcpproxy and installs the npm peers (conformance
# suite, inspector, node 22). It runs before HOME is changed so that Go's
# and npm's caches are reused.
build_all() {
	log "build bin/mcpproxy"
	make -s -C "$ROOT" build peers
}

# install_fixture installs the go-sdk conformance everything-server into bin/.
install_fixture() {
	log "install everything-server@$GO_SDK_VERSION"
	GOBIN=$BIN go install "github.com/modelcontextprotocol/go-sdk/conformance/everything-server@$GO_SDK_VERSION"
}

# isolate points HOME at the temp dir (the inspector writes ~/.mcp-inspector)
# and puts node 22 and the npm tools first on PATH.
isolate() {
	mkdir -p "$TMP/home"
	export HOME=$TMP/home
	export PATH=$PEERS/node_modules/.bin:$PATH
}

# spawn runs a command in the background with its output in files under TMP
# ($TMP/NAME.out, $TMP/NAME.err) and records its pid for cleanup.
spawn() {
	local name=$1
	shift
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PIDS+=($!)
	LAST_PID=$!
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for DEADLINE_SECONDS WHAT COMMAND... polls COMMAND until it succeeds.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@"; do
		if ((SECONDS >= end)); then
			echo "$0: timed out after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.1
	done
}

alive() { kill -0 "$1" 2>/dev/null; }

# start_mcpproxy CONFIG starts bin/mcpproxy serve on the config (which
# listens on 127.0.0.1:0) and sets PROXY_URL from its startup block.
start_mcpproxy() {
	spawn mcpproxy "$BIN/mcpproxy" serve -c "$1" --log-level warn
	PROXY_PID=$LAST_PID
	proxy_started() {
		alive "$PROXY_PID" || { cat "$TMP/mcpproxy.err" >&2; echo "$0: mcpproxy exited" >&2; exit 1; }
		grep -qs '^  listen:' "$TMP/mcpproxy.out"
	}
	wait_for 30 "mcpproxy to listen" proxy_started
	PROXY_URL=$(sed -n 's/^  listen: *\(http:[^ ]*\).*/\1/p' "$TMP/mcpproxy.out")
	log "mcpproxy (pid $PROXY_PID) on $PROXY_URL"
}

# wait_ready NAME waits until upstream NAME is ready in mcpproxy.
wait_ready() {
	local name=$1
	server_ready() {
		alive "$PROXY_PID" || { cat "$TMP/mcpproxy.err" >&2; echo "$0: mcpproxy exited" >&2; exit 1; }
		curl -fsS -H "X-API-Key: $API_KEY" "$PROXY_URL/api/v1/servers/$name" 2>/dev/null |
			jq -e '.data.state == "ready"' >/dev/null
	}
	if ! wait_for 60 "upstream $name to be ready" server_ready; then
		curl -sS -H "X-API-Key: $API_KEY" "$PROXY_URL/api/v1/servers/$name" >&2 || true
		exit 1
	fi
}

# mcpproxy_config FILE SERVERS_JSON writes a config listening on a free port
# with its data dir under TMP.
mcpproxy_config() {
	jq -n --arg dir "$TMP/data" --arg key "$API_KEY" --argjson servers "$2" \
		'{listen: "127.0.0.1:0", api_key: $key, data_dir: $dir, mcpServers: $servers}' >"$1"
}
