GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PEERS   := test/mcp-peers
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test check fmt vet staticcheck peers browser bench clean cross release

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mcpproxy ./cmd/mcpproxy

run: build
	./bin/mcpproxy serve $(ARGS)

# npm packages the integration tests run as real upstreams.
peers: $(PEERS)/node_modules/.package-lock.json

$(PEERS)/node_modules/.package-lock.json: $(PEERS)/package.json $(PEERS)/package-lock.json
	cd $(PEERS) && npm ci --no-audit --no-fund --loglevel=error

# A browser for the web UI's browser test (cmd/mcpproxy/ui_test.go), which
# finds Chromium or Chrome on PATH or at $$CHROME_PATH. Installed with apt-get
# (Debian's Chromium) only when none is found and apt-get exists; elsewhere
# it says what to install.
BROWSERS := chromium chromium-browser google-chrome google-chrome-stable chrome
browser:
	@if [ -n "$$CHROME_PATH" ]; then exit 0; fi; \
	for b in $(BROWSERS); do command -v $$b >/dev/null 2>&1 && exit 0; done; \
	if command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt-get)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "no Chromium or Chrome found: install one (macOS: brew install --cask chromium; Windows: winget install Google.Chrome) or set CHROME_PATH; the UI tests need it" >&2; \
	fi

test: peers browser
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

check: fmt vet staticcheck test

# The MCP conformance suite against the pass-through endpoint (server
# scenarios) and against the upstream connector (client scenarios, through
# `mcpproxy upstream probe`), and an MCP Inspector CLI smoke test of every
# MCP endpoint; see test/conformance/.
.PHONY: conformance
conformance:
	bash test/conformance/run.sh
	bash test/conformance/client.sh
	bash test/conformance/inspector.sh

# Builds (compiles, writes nothing) and vets, code and tests, for every
# platform a release targets. The tests themselves run on Linux (the
# end-to-end ones, which read /proc, are built only there).
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@for p in $(PLATFORMS); do \
		echo "go build, go vet $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./... || exit 1; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./... || exit 1; \
	done

# Release archives in dist/: for each platform a .tar.gz (a .zip for
# Windows) holding the binary, with the version stamped in (mcpproxy
# version) and README.md; and SHA256SUMS of them all. The user service
# (systemd unit, launchd agent) is written by `mcpproxy service install`.
DIST := dist
release:
	rm -rf $(DIST) && mkdir -p $(DIST)
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; if [ $$os = windows ]; then ext=.exe; fi; \
		name=mcpproxy_$(VERSION)_$${os}_$${arch}; \
		echo "build $(DIST)/$$name"; \
		mkdir -p $(DIST)/$$name && \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/$$name/mcpproxy$$ext ./cmd/mcpproxy && \
		cp README.md $(DIST)/$$name/ || exit 1; \
		if [ $$os = windows ]; then (cd $(DIST) && zip -qr $$name.zip $$name) || exit 1; \
		else tar -C $(DIST) -czf $(DIST)/$$name.tar.gz $$name || exit 1; fi; \
		rm -rf $(DIST)/$$name; \
	done
	cd $(DIST) && sha256sum mcpproxy_* > SHA256SUMS && cat SHA256SUMS

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin $(DIST)
