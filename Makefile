# loaxa: build, run, test and cross-compile. `make help` lists the targets.
#
# Every target that compiles first runs scripts/deps.sh, which installs the
# missing Debian packages (cgo audio libraries, mosquitto, cross compilers)
# and takes well under a second when nothing is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# The upstream Go tarball lives in /usr/local/go and is often not on PATH in
# a fresh root shell or under CI.
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := /usr/local/go/bin:$(PATH)
endif
GO ?= go

# go.mod changes only through an explicit `go get`, never as a side effect of
# a build. cgo is required (PortAudio, mpg123, Opus): without a C compiler Go
# would silently turn it off and fail later with a confusing error.
# nolibopusfile: loaxa decodes raw Opus packets (libopus) and never Ogg
# files, so the pole needs neither libopusfile nor libogg.
export GOFLAGS ?= -mod=readonly -tags=nolibopusfile
export CGO_ENABLED := 1

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
RELEASE_FLAGS := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
DEV_FLAGS := -trimpath -ldflags "-X main.version=$(VERSION)"

# Cross builds link against the target's multiarch -dev packages. Setting
# PKG_CONFIG_LIBDIR (and emptying PKG_CONFIG_PATH) keeps pkg-config from
# handing the amd64 libraries to the arm linker.
ARM64_ENV := GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
ARMHF_ENV := GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc \
	PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig

FUZZTIME ?= 60s
# BROKER for `make run`: the agent's in-process broker on 127.0.0.1:1883, or
# a URL such as tcp://127.0.0.1:1883.
BROKER ?= embedded
RUN_ID := demo-pole
RUN_DIR := .run

.PHONY: help deps deps-cross build run test fuzz bench cross \
	bin/loaxad-linux-arm64 bin/loaxad-linux-armhf smoke-arm64 clean

help:
	@echo "make build        bin/loaxad and bin/loaxactl for this machine"
	@echo "make run          a simulated pole ($(RUN_ID)) with an embedded broker, in the foreground"
	@echo "make test         gofmt, vet, race tests, cross builds and the arm64 smoke test (what CI runs)"
	@echo "make cross        bin/loaxad-linux-arm64 and bin/loaxad-linux-armhf"
	@echo "make smoke-arm64  run the arm64 agent under qemu against mosquitto"
	@echo "make fuzz         every fuzz target for FUZZTIME (now $(FUZZTIME))"
	@echo "make bench        Go benchmarks and scripts/bench-*.sh"
	@echo "make deps         install the missing Debian packages (deps-cross: cross toolchains)"
	@echo "make clean        remove bin/ and $(RUN_DIR)/"

deps:
	bash scripts/deps.sh base

deps-cross:
	bash scripts/deps.sh cross

build: deps
	@mkdir -p bin
	$(GO) build $(DEV_FLAGS) -o bin/ ./cmd/loaxad ./cmd/loaxactl

run: build
	@mkdir -p $(RUN_DIR)/data
	@echo
	@echo "  loaxa demo: simulated pole '$(RUN_ID)', data in $(RUN_DIR)/data. Ctrl-C stops it."
	@echo
	@echo "  From another terminal:"
	@printf '    %-50s # %s\n' \
		"bin/loaxactl watch $(RUN_ID)" "state, events and acks as they come" \
		"bin/loaxactl send $(RUN_ID) zones '{\"on\":[\"z1\"]}'" "switch zone z1 on" \
		"bin/loaxactl send $(RUN_ID) status" "the full state" \
		"bin/loaxactl send $(RUN_ID) volume '{\"level\":70}'" "master volume" \
		"bin/loaxactl send $(RUN_ID) play '{\"source\":\"tone:440\",\"duration_s\":3}'" "play a test tone" \
		"mosquitto_sub -h 127.0.0.1 -t 'loaxa/v1/#' -v" "raw MQTT traffic"
	@echo
	@echo "  Simulated relay and amplifier pins, one JSON line per change:"
	@echo "    tail -f $(RUN_DIR)/data/sim/transitions.jsonl"
	@echo "  What the speakers played (listen with any audio player, e.g. sox's play):"
	@echo "    $(RUN_DIR)/data/sim/speaker.wav"
	@echo
	@broker='$(BROKER)'; \
	if [[ $$broker == embedded ]] && (: <>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then \
		echo "  Port 1883 is already taken (the Debian mosquitto service?): using that broker."; \
		echo "  To use the embedded one: systemctl stop mosquitto, then make run again."; \
		echo; \
		broker=tcp://127.0.0.1:1883; \
	fi; \
	exec bin/loaxad --sim --broker "$$broker" --id $(RUN_ID) --data-dir $(RUN_DIR)/data

test:
	bash scripts/deps.sh base cross
	$(GO) mod download
	@echo "gofmt -l"; \
	out=$$(find . -name '*.go' -not -path './.git/*' -not -path './$(RUN_DIR)/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l); \
	if [[ -n $$out ]]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@# Board-only files (build tags) are vetted too, not just compiled.
	env $(ARM64_ENV) $(GO) vet ./...
	$(GO) test -race -count=1 ./...
	@$(MAKE) --no-print-directory cross
	@$(MAKE) --no-print-directory smoke-arm64

fuzz: deps
	@list=$$($(GO) test -list '^Fuzz' ./...); \
	targets=$$(awk '/^Fuzz/ { names[n++] = $$1; next } \
		/^ok / { for (i = 0; i < n; i++) print $$2, names[i]; n = 0 }' <<<"$$list"); \
	if [[ -z $$targets ]]; then echo "no fuzz targets"; exit 0; fi; \
	while read -r pkg name; do \
		echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done <<<"$$targets"

bench: deps
	bash scripts/deps.sh bench
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@for s in scripts/bench-*.sh; do \
		[[ -e $$s ]] || continue; \
		echo "== $$s"; \
		bash "$$s"; \
	done

cross: bin/loaxad-linux-arm64 bin/loaxad-linux-armhf

bin/loaxad-linux-arm64: deps-cross
	env $(ARM64_ENV) $(GO) build $(RELEASE_FLAGS) -o $@ ./cmd/loaxad

bin/loaxad-linux-armhf: deps-cross
	env $(ARMHF_ENV) $(GO) build $(RELEASE_FLAGS) -o $@ ./cmd/loaxad

smoke-arm64: bin/loaxad-linux-arm64
	bash scripts/smoke-arm64.sh bin/loaxad-linux-arm64

clean:
	rm -rf bin/ $(RUN_DIR)/
