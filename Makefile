# trun: build the CLIs (one bundled CommonJS file each) and the C init; run the tests.
CC ?= gcc
CFLAGS ?= -O2 -g -Wall -Wextra -Werror=implicit-function-declaration -std=gnu11 -D_GNU_SOURCE
ESBUILD = node_modules/.bin/esbuild
ESBUILD_FLAGS = --bundle --platform=node --target=node20 --format=cjs --log-level=warning

INIT_SRC = $(wildcard runtime/init/*.c)
INIT_HDR = $(wildcard runtime/init/*.h)
TS_SRC = $(shell find spec runtime bundle-tools -name '*.ts' 2>/dev/null)

.PHONY: all setup build typecheck lint types check-types test unit integration bench demo clean

all: build

build: dist/trun.js dist/trun-bundle.js dist/trun-init build/subreaper build/sigign

# apt packages and node_modules, installed only when missing.
setup:
	@bash scripts/setup.sh

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/trun.js: $(TS_SRC) node_modules/.package-lock.json
	$(ESBUILD) runtime/cli/main.ts $(ESBUILD_FLAGS) --banner:js='#!/usr/bin/env node' --outfile=$@
	@chmod +x $@

dist/trun-bundle.js: $(TS_SRC) node_modules/.package-lock.json
	$(ESBUILD) bundle-tools/cli/main.ts $(ESBUILD_FLAGS) --banner:js='#!/usr/bin/env node' --outfile=$@
	@chmod +x $@

dist/trun-init: $(INIT_SRC) $(INIT_HDR)
	@mkdir -p dist
	$(CC) $(CFLAGS) -o $@ $(INIT_SRC) -lseccomp

build/sigign: test/helpers/sigign.c
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $<

build/subreaper: test/helpers/subreaper.c
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $<

typecheck: node_modules/.package-lock.json
	node_modules/.bin/tsc -p tsconfig.json

lint: typecheck

# Regenerate the TypeScript types from the OCI JSON schemas.
types: node_modules/.package-lock.json
	node_modules/.bin/tsx spec/generate-types.ts

# CI fails when the committed types drift from the schemas.
check-types: node_modules/.package-lock.json
	node_modules/.bin/tsx spec/generate-types.ts --check

unit: build
	node test/run.mjs unit

integration: build
	build/subreaper node test/run.mjs integration

test: setup
	$(MAKE) build typecheck check-types
	build/subreaper node test/run.mjs all

bench: build
	build/subreaper node_modules/.bin/tsx bench/lifecycle.ts

demo: setup
	$(MAKE) build
	bash scripts/demo.sh

clean:
	rm -rf dist build

# trun-bundle's helper for mknod and xattrs (no Node.js API for either).
build: dist/trun-bundle-fsops

# trun-bundle's layer worker thread (unpack in parallel across cores).
build: dist/trun-bundle-worker.js

dist/trun-bundle-worker.js: $(TS_SRC) node_modules/.package-lock.json
	$(ESBUILD) bundle-tools/lib/layer-worker.ts $(ESBUILD_FLAGS) --outfile=$@

dist/trun-bundle-fsops: bundle-tools/native/fsops.c
	@mkdir -p dist
	$(CC) $(CFLAGS) -o $@ $<

# Test helper for trun-init's CONSOLE op: a console-socket server that receives the pty master.
build: build/recvtty build/getseals build/nsmounts

build/recvtty: test/helpers/recvtty.c
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $<

# Test helper: prints the memfd seals of a file (the init's sealed copy of itself).
build/getseals: test/helpers/getseals.c
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $<

# Test helper: the superblocks of every mount of a mount namespace, hidden ones included.
build/nsmounts: test/helpers/nsmounts.c
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $<

# The warm path (DESIGN.md, "Speed"): dist/trun, a C front end that hands commands to
# dist/trun-server.js (the same CLI, long-lived) and forks trun-init for it; trun-peercred.node
# gives the server SO_PEERCRED. Opt-in: see runtime/server/README.md.
NODE_INCLUDE ?= $(shell node -p "require('path').resolve(process.execPath, '../../include/node')")
build: dist/trun dist/trun-server.js dist/trun-peercred.node

dist/trun: runtime/frontend/trun.c
	@mkdir -p dist
	$(CC) $(CFLAGS) -o $@ $<

dist/trun-server.js: $(TS_SRC) node_modules/.package-lock.json
	$(ESBUILD) runtime/server/main.ts $(ESBUILD_FLAGS) --define:TRUN_SERVER_BUNDLE=true --outfile=$@

dist/trun-peercred.node: runtime/server/peercred.c
	@mkdir -p dist
	$(CC) $(CFLAGS) -shared -fPIC -I$(NODE_INCLUDE) -o $@ $<

# Test helper: a seccomp agent (linux.seccomp.listenerPath) that receives the notify fd and the
# container process state, and answers mkdir notifications.
build: build/seccomp-listener

build/seccomp-listener: test/helpers/seccomp-listener.c
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $< -lseccomp

# Test helper: raw system calls by name (seccomp's errno and -ENOSYS answers), static for the rootfs.
build: build/rawsys

build/rawsys: test/helpers/rawsys.c
	@mkdir -p build
	$(CC) $(CFLAGS) -static -o $@ $<
