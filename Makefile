# Showrunner: everything a fresh machine needs is installed from here.
#   make dev    install what is needed, start a local LiveKit dev server and the service
#   make test   install what is needed, check generated code and lint, run the tests

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BIN      ?= python3.11
LIVEKIT_VERSION ?= v1.13.5
PROTOCOL_VERSION ?= v1.51.0
BUF_VERSION     ?= v1.75.0
GRPCURL_VERSION ?= v1.9.3
# h2spec, the HTTP/2 conformance checker the gRPC door's test runs: its version and every
# dependency's are pinned in tools/h2spec/go.mod (h2spec predates Go modules).
H2SPEC_VERSION  := $(shell sed -n 's,.*github.com/summerwind/h2spec \(v[^ ]*\).*,\1,p' tools/h2spec/go.mod)

# Built tools are cached outside the work tree so fresh clones on one machine share them.
TOOLS_DIR  ?= $(HOME)/.cache/showrunner
LIVEKIT_SERVER := $(TOOLS_DIR)/livekit-server-$(LIVEKIT_VERSION)/livekit-server
BUF        := $(TOOLS_DIR)/buf-$(BUF_VERSION)/buf
GRPCURL    := $(TOOLS_DIR)/grpcurl-$(GRPCURL_VERSION)/grpcurl
H2SPEC     := $(TOOLS_DIR)/h2spec-$(H2SPEC_VERSION)/h2spec
VENV       := .venv
PY         := $(VENV)/bin/python
LIVEKIT_PROTOS := build/livekit-protocol
GOOGLEAPIS_PROTOS := build/googleapis
PROTO_FILES := $(sort $(wildcard protos/showrunner/v1/*.proto))

export LIVEKIT_SERVER_BIN := $(abspath $(LIVEKIT_SERVER))
export H2SPEC_BIN := $(abspath $(H2SPEC))
# The service imports generated code from gen/ and itself from the top level.
export PYTHONPATH := $(CURDIR)/gen:$(CURDIR)

.PHONY: help
help:
	@echo "make dev    - install everything and run the service against a local LiveKit dev server"
	@echo "make test   - install everything, check gen/ and lint, run the tests"
	@echo "make gen    - regenerate gen/, clients/ts and clients/go from protos/"
	@echo "make web    - build the web app into build/web (make dev and make test do)"
	@echo "make image  - build the web app, then the service's image (docker build -t \$$IMAGE, showrunner by default)"
	@echo "make lint   - buf lint, ruff, mypy"
	@echo "make bench  - the hot paths against their floors and LiveKit, on the real stack (BENCH_ARGS=--help)"

# --- installation --------------------------------------------------------------------------

$(VENV)/.installed: requirements.lock requirements-dev.lock
	$(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $@

.PHONY: venv lock
venv: $(VENV)/.installed

# Re-pin the whole tree from pyproject.toml's direct pins (runtime, then tools on top).
lock:
	rm -rf build/lock && $(PYTHON_BIN) -m venv build/lock/runtime && $(PYTHON_BIN) -m venv build/lock/dev
	build/lock/runtime/bin/pip install --quiet --disable-pip-version-check .
	build/lock/dev/bin/pip install --quiet --disable-pip-version-check ".[dev]"
	{ echo "# Runtime dependencies, the whole tree pinned. Regenerate with 'make lock'."; \
	  build/lock/runtime/bin/pip freeze --exclude showrunner; } > requirements.lock
	{ echo "# Test and code-generation tools, on top of the runtime. Regenerate with 'make lock'."; \
	  echo "-r requirements.lock"; \
	  build/lock/dev/bin/pip freeze --exclude showrunner | grep -v -x -F -f requirements.lock; } > requirements-dev.lock

$(LIVEKIT_SERVER):
	@mkdir -p $(dir $@)
	@echo "building livekit-server $(LIVEKIT_VERSION) from its Go module (cached in $(dir $@))"
	cd /tmp && GOBIN=$(abspath $(dir $@)) GOFLAGS=-mod=mod go install github.com/livekit/livekit-server/cmd/server@$(LIVEKIT_VERSION)
	mv $(dir $@)/server $@

$(BUF):
	@mkdir -p $(dir $@)
	cd /tmp && GOBIN=$(abspath $(dir $@)) GOFLAGS=-mod=mod go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

$(GRPCURL):
	@mkdir -p $(dir $@)
	cd /tmp && GOBIN=$(abspath $(dir $@)) GOFLAGS=-mod=mod go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(H2SPEC): tools/h2spec/go.mod tools/h2spec/go.sum
	@mkdir -p $(dir $@)
	cd tools/h2spec && go build -o $(abspath $@) github.com/summerwind/h2spec/cmd/h2spec

# LiveKit's public .proto files, from the published Go module at a pinned version (never committed).
$(LIVEKIT_PROTOS)/.version-$(PROTOCOL_VERSION):
	rm -rf $(LIVEKIT_PROTOS) && mkdir -p $(LIVEKIT_PROTOS)
	src=$$(cd /tmp && GOFLAGS=-mod=mod go mod download -json github.com/livekit/protocol@$(PROTOCOL_VERSION) | $(PYTHON_BIN) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') && \
	  cp $$src/protobufs/livekit_*.proto $(LIVEKIT_PROTOS)/ && \
	  cp -r $$src/protobufs/logger $$src/protobufs/agent $(LIVEKIT_PROTOS)/
	chmod -R u+w $(LIVEKIT_PROTOS)
	touch $@

# google/api/annotations.proto and http.proto (the REST routes' annotations), from the pinned
# googleapis-common-protos wheel in the venv (the same package gives the runtime its Python code).
$(GOOGLEAPIS_PROTOS)/.installed: $(VENV)/.installed
	rm -rf $(GOOGLEAPIS_PROTOS) && mkdir -p $(GOOGLEAPIS_PROTOS)/google/api
	src=$$($(PY) -c 'import google.api; print(list(google.api.__path__)[0])') && \
	  cp $$src/annotations.proto $$src/http.proto $(GOOGLEAPIS_PROTOS)/google/api/
	chmod -R u+w $(GOOGLEAPIS_PROTOS)
	touch $@

# Debian's redis-server (bookworm: 7.0), for the tests and `make dev REDIS=1`, and Debian's
# chromium, the browser the web app's test drives (nothing downloads a browser of its own).
.PHONY: system-packages
system-packages:
	@command -v redis-server >/dev/null && command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q redis-server chromium; }

.PHONY: tools livekit-protos googleapis-protos
livekit-protos: $(LIVEKIT_PROTOS)/.version-$(PROTOCOL_VERSION)
googleapis-protos: $(GOOGLEAPIS_PROTOS)/.installed
tools: $(LIVEKIT_SERVER) $(BUF) $(H2SPEC) livekit-protos googleapis-protos system-packages

# --- code generation -----------------------------------------------------------------------

# gen_into DIR: protoc with grpcio-tools' pinned compiler, mypy-protobuf stubs, our typed seam
# (tools/protoc_gen_seam.py), then the OpenAPI document of the REST door (tools/openapi.py).
define gen_into
	rm -rf $(1) && mkdir -p $(1)
	$(PY) -m grpc_tools.protoc -I protos -I $(LIVEKIT_PROTOS) -I $(GOOGLEAPIS_PROTOS) \
	  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
	  --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	  --plugin=protoc-gen-seam=tools/protoc-gen-seam \
	  --python_out=$(1) --mypy_out=quiet:$(1) --grpc_python_out=$(1) --mypy_grpc_out=quiet:$(1) --seam_out=$(1) \
	  $(PROTO_FILES)
	$(PY) tools/fix_livekit_imports.py $(1)
	touch $(1)/showrunner/__init__.py $(1)/showrunner/v1/__init__.py
	PYTHONPATH=$(abspath $(1)):$(CURDIR) $(PY) -m tools.openapi > $(1)/openapi.json
endef

.PHONY: gen gen-check
gen: venv livekit-protos googleapis-protos ts-client
	$(call gen_into,gen)

# CI regenerates into a scratch folder and fails on any difference from the committed gen/.
gen-check: venv livekit-protos googleapis-protos
	$(call gen_into,build/gen-check)
	diff -r -x __pycache__ gen build/gen-check || { echo "gen/ is stale or was edited by hand: run 'make gen' and commit"; exit 1; }

# --- web: the TypeScript client and the pages -----------------------------------------------

# npm's pinned tree from package-lock.json: protobuf-ts, livekit-client, Vite, playwright-core.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The TypeScript client (protobuf-ts with its Twirp transport), generated at build time into
# clients/ts and never committed: most of it is LiveKit's own messages, from LiveKit's protos.
TS_CLIENT_OPTS := long_type_number,generate_dependencies,optimize_code_size,force_exclude_all_options,server_none,disable_ts_nocheck
.PHONY: npm ts-client web
npm: node_modules/.installed
ts-client: venv livekit-protos googleapis-protos npm
	rm -rf clients/ts && mkdir -p clients/ts
	$(PY) -m grpc_tools.protoc -I protos -I $(LIVEKIT_PROTOS) -I $(GOOGLEAPIS_PROTOS) --plugin=protoc-gen-ts=node_modules/.bin/protoc-gen-ts \
	  --ts_out=clients/ts --ts_opt=$(TS_CLIENT_OPTS) $(PROTO_FILES)

# The pages, type-checked with the client, built by Vite into build/web, which the service serves.
web: ts-client
	node_modules/.bin/tsc -p web/tsconfig.json
	node_modules/.bin/vite build --config web/vite.config.ts --logLevel warn

# The service's image, the pages in it (the Dockerfile copies build/web as built here).
IMAGE ?= showrunner
.PHONY: image
image: web
	docker build -t $(IMAGE) .

# The README's pictures of the pages, as the browser test takes them mid-show.
.PHONY: screenshots
screenshots: venv tools web
	SHOW_SCREENSHOTS_DIR=$(CURDIR)/docs $(VENV)/bin/pytest -q tests/test_browser_show.py

# --- checks --------------------------------------------------------------------------------

.PHONY: lint
lint: venv $(BUF) livekit-protos googleapis-protos
	$(BUF) lint --path protos/showrunner
	$(BUF) build
	$(VENV)/bin/ruff check service tests tools
	$(VENV)/bin/ruff format --check service tests tools
	$(VENV)/bin/mypy

.PHONY: test
# The suite runs in PYTEST_WORKERS processes (pytest-xdist), each with its own LiveKit, Redis and
# services, a test file at a time (--dist loadfile: a file's tests share their module's services
# and never run beside one another); PYTEST_WORKERS=0 runs it in this one process.
PYTEST_WORKERS ?= 2
test: venv tools gen-check lint web
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

.PHONY: bench
# GRPC_VERBOSITY: the storm starts its unrelated reader's process while this one's gRPC threads
# run, and gRPC notes at INFO that it skips its fork handlers (the child runs a new program).
bench: venv tools
	GRPC_VERBOSITY=ERROR $(PY) -m tests.bench $(BENCH_ARGS)

# --- generated Go clients (clients/go) -----------------------------------------------------
# protoc-gen-go, protoc-gen-go-grpc and Twirp's own generator, pinned and built from the Go proxy.
# `make gen` and `make gen-check` pick these up as extra prerequisites; the Go program that
# checks them against a running service is tests/test_go_clients.py's.
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
TWIRP_VERSION              ?= v8.1.3
PROTOC_GEN_GO      := $(TOOLS_DIR)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(TOOLS_DIR)/protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)/protoc-gen-go-grpc
PROTOC_GEN_TWIRP_GO := $(TOOLS_DIR)/protoc-gen-twirp-$(TWIRP_VERSION)/protoc-gen-twirp
GO_CLIENT_MODULE   := github.com/showrunner/showrunner/clients/go
GO_PLUGINS := $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(PROTOC_GEN_TWIRP_GO)

$(PROTOC_GEN_GO):
	@mkdir -p $(dir $@)
	cd /tmp && GOBIN=$(abspath $(dir $@)) GOFLAGS=-mod=mod go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(PROTOC_GEN_GO_GRPC):
	@mkdir -p $(dir $@)
	cd /tmp && GOBIN=$(abspath $(dir $@)) GOFLAGS=-mod=mod go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# Twirp's module predates Go modules (hence +incompatible) and pins none of its imports, which
# `go install` would take at their newest: a scratch module pins them.
$(PROTOC_GEN_TWIRP_GO):
	@mkdir -p $(dir $@)
	cd $(dir $@) && rm -f go.mod go.sum && go mod init protoc-gen-twirp-build 2>/dev/null && \
	  go get github.com/twitchtv/twirp@$(TWIRP_VERSION)+incompatible github.com/pkg/errors@v0.9.1 \
	    google.golang.org/protobuf@$(PROTOC_GEN_GO_VERSION) && \
	  go build -o $(abspath $@) github.com/twitchtv/twirp/protoc-gen-twirp

# go_into DIR: the Go messages, gRPC client/server and Twirp client/server under DIR/showrunner/v1.
define go_into
	rm -rf $(1)/showrunner && mkdir -p $(1)
	$(PY) -m grpc_tools.protoc -I protos -I $(LIVEKIT_PROTOS) $(addprefix -I ,$(GOOGLEAPIS_PROTOS)) \
	  --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) \
	  --plugin=protoc-gen-twirpgo=$(PROTOC_GEN_TWIRP_GO) \
	  --go_out=$(1) --go_opt=module=$(GO_CLIENT_MODULE) --go-grpc_out=$(1) --go-grpc_opt=module=$(GO_CLIENT_MODULE) \
	  --twirpgo_out=$(1) --twirpgo_opt=module=$(GO_CLIENT_MODULE) \
	  $(PROTO_FILES)
endef

.PHONY: gen-go gen-go-check
gen: gen-go
gen-check: gen-go-check
# (GOOGLEAPIS_PROTOS: google/api's protos, where the contract imports them for REST routes.)
GO_GEN_NEEDS = venv livekit-protos $(if $(GOOGLEAPIS_PROTOS),googleapis-protos) $(GO_PLUGINS)
gen-go: $(GO_GEN_NEEDS)
	$(call go_into,clients/go)

gen-go-check: $(GO_GEN_NEEDS)
	$(call go_into,build/gen-check-go)
	diff -r clients/go/showrunner build/gen-check-go/showrunner || { echo "clients/go is stale or was edited by hand: run 'make gen' and commit"; exit 1; }
	cd clients/go && go mod tidy -diff || { echo "clients/go/go.mod or go.sum is not tidy: run 'go mod tidy' there and commit"; exit 1; }

# The hand-written Go (showcheck) is held to gofmt and go vet like the Python to ruff and mypy.
.PHONY: lint-go
lint: lint-go
lint-go:
	@test -z "$$(gofmt -l clients/go)" || { gofmt -l clients/go; echo "run gofmt -w on the files above"; exit 1; }
	cd clients/go && go vet ./...

# The contract cannot break by accident: buf breaking against the baseline recorded in
# protos/README.md's changelog and against the main branch (tools/contract_breaking.py).
.PHONY: breaking
export BUF_BIN := $(abspath $(BUF))
test: breaking
breaking: venv $(BUF) livekit-protos googleapis-protos
	$(PY) tools/contract_breaking.py --buf $(BUF)

# --- running -------------------------------------------------------------------------------

.PHONY: dev
dev: venv tools web
	REDIS=$(REDIS) $(PY) -m service.devserver

# An admin token for ROOM (or LIST=1 for one that lists rooms), for the README's first session.
.PHONY: admin-token
admin-token: venv
	@$(PY) -m service.admin_token $(if $(LIST),--list,$(ROOM))

.PHONY: grpcurl
grpcurl: $(GRPCURL)
	@echo $(GRPCURL)

.PHONY: clean
clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache node_modules clients/ts
