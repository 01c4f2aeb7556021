GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PEERS   := test/mcp-peers
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test check fmt vet staticcheck peers bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mcpproxy ./cmd/mcpproxy

run: build
	./bin/mcpproxy serve $(ARGS)

# npm packages the integration tests run as real upstreams.
peers: $(PEERS)/node_modules/.package-lock.json

$(PEERS)/node_modules/.package-lock.json: $(PEERS)/package.json $(PEERS)/package-lock.json
	cd $(PEERS) && npm ci --no-audit --no-fund --loglevel=error

test: peers
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

check: fmt vet staticcheck test

# The MCP conformance suite against the pass-through endpoint, and an MCP
# Inspector CLI smoke test of every MCP endpoint; see test/conformance/.
.PHONY: conformance
conformance:
	bash test/conformance/run.sh
	bash test/conformance/inspector.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
