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

# Built tools are cached outside the work tree so fresh clones on one machine share them.
TOOLS_DIR  ?= $(HOME)/.cache/showrunner
LIVEKIT_SERVER := $(TOOLS_DIR)/livekit-server-$(LIVEKIT_VERSION)/livekit-server
BUF        := $(TOOLS_DIR)/buf-$(BUF_VERSION)/buf
GRPCURL    := $(TOOLS_DIR)/grpcurl-$(GRPCURL_VERSION)/grpcurl
VENV       := .venv
PY         := $(VENV)/bin/python
LIVEKIT_PROTOS := build/livekit-protocol
PROTO_FILES := $(sort $(wildcard protos/showrunner/v1/*.proto))

export LIVEKIT_SERVER_BIN := $(abspath $(LIVEKIT_SERVER))
# The service imports generated code from gen/ and itself from the top level.
export PYTHONPATH := $(CURDIR)/gen:$(CURDIR)

.PHONY: help
help:
	@echo "make dev    - install everything and run the service against a local LiveKit dev server"
	@echo "make test   - install everything, check gen/ and lint, run the tests"
	@echo "make gen    - regenerate gen/ from protos/"
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

# LiveKit's public .proto files, from the published Go module at a pinned version (never committed).
$(LIVEKIT_PROTOS)/.version-$(PROTOCOL_VERSION):
	rm -rf $(LIVEKIT_PROTOS) && mkdir -p $(LIVEKIT_PROTOS)
	src=$$(cd /tmp && GOFLAGS=-mod=mod go mod download -json github.com/livekit/protocol@$(PROTOCOL_VERSION) | $(PYTHON_BIN) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') && \
	  cp $$src/protobufs/livekit_*.proto $(LIVEKIT_PROTOS)/ && \
	  cp -r $$src/protobufs/logger $$src/protobufs/agent $(LIVEKIT_PROTOS)/
	chmod -R u+w $(LIVEKIT_PROTOS)
	touch $@

# Debian's redis-server (bookworm: 7.0), for the tests and `make dev REDIS=1`.
.PHONY: system-packages
system-packages:
	@command -v redis-server >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q redis-server; }

.PHONY: tools livekit-protos
livekit-protos: $(LIVEKIT_PROTOS)/.version-$(PROTOCOL_VERSION)
tools: $(LIVEKIT_SERVER) $(BUF) livekit-protos system-packages

# --- code generation -----------------------------------------------------------------------

# gen_into DIR: protoc with grpcio-tools' pinned compiler, mypy-protobuf stubs and our Twirp plugin.
define gen_into
	rm -rf $(1) && mkdir -p $(1)
	$(PY) -m grpc_tools.protoc -I protos -I $(LIVEKIT_PROTOS) \
	  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
	  --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	  --plugin=protoc-gen-twirp=tools/protoc-gen-twirp \
	  --python_out=$(1) --mypy_out=quiet:$(1) --grpc_python_out=$(1) --mypy_grpc_out=quiet:$(1) --twirp_out=$(1) \
	  $(PROTO_FILES)
	$(PY) tools/fix_livekit_imports.py $(1)
	touch $(1)/showrunner/__init__.py $(1)/showrunner/v1/__init__.py
endef

.PHONY: gen gen-check
gen: venv livekit-protos
	$(call gen_into,gen)

# CI regenerates into a scratch folder and fails on any difference from the committed gen/.
gen-check: venv livekit-protos
	$(call gen_into,build/gen-check)
	diff -r -x __pycache__ gen build/gen-check || { echo "gen/ is stale or was edited by hand: run 'make gen' and commit"; exit 1; }

# --- checks --------------------------------------------------------------------------------

.PHONY: lint
lint: venv $(BUF) livekit-protos
	$(BUF) lint --path protos/showrunner
	$(BUF) build
	$(VENV)/bin/ruff check service tests tools
	$(VENV)/bin/ruff format --check service tests tools
	$(VENV)/bin/mypy

.PHONY: test
test: venv tools gen-check lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

.PHONY: bench
bench: venv tools
	$(PY) -m tests.bench $(BENCH_ARGS)

# --- running -------------------------------------------------------------------------------

.PHONY: dev
dev: venv tools
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
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
