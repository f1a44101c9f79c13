# Every target creates the virtualenv and installs the project first (make install).
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
APP    ?= examples.chat.worker.app
WEB    ?= python -m examples.chat.web --listen 127.0.0.1:8080 --register {register} --ws-url ws://{websocket}

RUN    ?= run
# make test's processes (pytest-xdist): the suite mostly waits (sockets, timers, real
# processes), so three share two cores well; a test file's tests stay in one process
# (its module fixtures: a cluster, a browser, made once); TEST_JOBS=0: one process
TEST_JOBS ?= 3
GW     := $(VENV)/bin/gw
UP     := --app $(APP) $(if $(WEB),--with "$(WEB)")
# The chat: the gateway verifies the page's tokens, which the web backend signs, with
# one secret made afresh for each run and handed over in the environment only (never
# on a command line or in make's echo); --auth-optional keeps the design document's
# raw snippets working for clients that are not logged in.
ifeq ($(APP),examples.chat.worker.app)
AUTH   := GW_AUTH_SECRET="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))')"
UP     += --auth-optional
endif
# The HTTP API (gw api, for backends in any language) on 127.0.0.1:$(API_PORT) (API_PORT=
# : none). Its key: GW_API_KEY if set, else the one in $(API_KEY_FILE), made once (mode
# 600) for curl and the examples: curl -H "Authorization: Bearer $$(cat data/api-key)"
API_PORT     ?= 8790
API_KEY_FILE ?= data/api-key
ifneq ($(API_PORT),)
UP     += --api-port $(API_PORT)
AUTH   += GW_API_KEY="$${GW_API_KEY:-$$(cat $(API_KEY_FILE))}"
API_KEY := $(API_KEY_FILE)
endif

.PHONY: install run test test-fast lint format bench bench-quick bench-scale browser php node tmux deploy-tools promtool engine engine-stop clean \
	start stop restart reload status top scale logs connections chat-password

# (the editable install's warning of folders named as packages: ours are the packages)
$(STAMP): pyproject.toml
	@echo "installing the project and its dependencies into $(VENV) (the first time: a minute or so)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e '.[test,dev,chat]'
	touch $(STAMP)
	@echo "installed: $(VENV)/bin/gw"

install: $(STAMP)

$(API_KEY_FILE):
	@mkdir -p $(dir $@)
	@(umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > $@)
	@echo "made the HTTP API's key in $@ (mode 600; GW_API_KEY, if set, is used instead)"

## make run: the whole cluster (register, gateway, 2 workers) with the chat on loopback:
## WebSocket ws://127.0.0.1:8783, web page http://127.0.0.1:8080/, SQLite in data/, the
## HTTP API on http://127.0.0.1:8790/api/v1/ (its key in data/api-key)
## (another app: make run APP=examples.echo.app WEB=; no HTTP API: API_PORT=)
run: install $(API_KEY)
	@echo '$(GW) up $(UP)'
	@$(AUTH) $(GW) up $(UP)

## Operating a cluster in the background (state, pid and log under $(RUN)/); each target
## is one gw command that works without make (gw start --help, gw stop --help...).
## make start: the whole cluster with the chat, in the background; returns once ready
start: install $(API_KEY)
	@echo '$(GW) start --run-dir $(RUN) $(UP)'
	@$(AUTH) $(GW) start --run-dir $(RUN) $(UP)

## make stop: graceful (gateways drain their clients), exit 0, nothing left listening
stop: install
	$(GW) stop --run-dir $(RUN)

restart: install $(API_KEY)
	@$(AUTH) $(GW) restart --run-dir $(RUN)

## make reload: replace the business workers one at a time; clients stay connected
reload: install
	$(GW) reload --run-dir $(RUN)

## make status: gateways, clients, workers, memory, counters (gw status --json for machines)
status: install
	$(GW) status --run-dir $(RUN)

## make top: gw status redrawn every 2 s (EVERY=1: every second) with per-second rates
## (messages, events, commands, redeliveries, refusals) per gateway and worker; Ctrl-C ends it
top: install
	$(GW) status --run-dir $(RUN) --watch $(EVERY)

## make scale WORKERS=N: run N business workers now, no restart, no event lost
scale: install
	$(if $(WORKERS),,$(error usage: make scale WORKERS=N))
	$(GW) scale --run-dir $(RUN) $(WORKERS)

## make logs: every process's log, followed
logs: install
	$(GW) logs --run-dir $(RUN)

## make connections: every client connection (client_id, uid, groups, remote, age)
connections: install
	$(GW) connections --run-dir $(RUN)

## make chat-password NICK=name: set or reset a chat account's password (asked twice; it
## logs the account out everywhere); how an account made before passwords is claimed
chat-password: install
	$(if $(NICK),,$(error usage: make chat-password NICK=nickname))
	$(PY) -m examples.chat.web.admin set-password "$$NICK"

## make browser: Debian's Chromium (+ a CJK font) for the browser tests (needs root)
browser:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium fonts-wqy-microhei >/dev/null) \
			|| echo "chromium could not be installed: browser tests will be skipped"; \
	else \
		echo "chromium is missing and cannot be installed here: browser tests will be skipped"; \
	fi

## make php: Debian's php-cli for the HTTP API's PHP example test (needs root)
php:
	@if command -v php >/dev/null 2>&1; then \
		echo "php: $$(php -r 'echo PHP_VERSION;')"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's php-cli for the PHP example's test..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			php-cli >/dev/null) \
			|| echo "php-cli could not be installed: the PHP example's tests will be skipped"; \
	else \
		echo "php is missing and cannot be installed here: the PHP example's tests will be skipped"; \
	fi

## make tmux: Debian's tmux for the test of gw status --watch in a real terminal (needs root)
tmux:
	@if command -v tmux >/dev/null 2>&1; then \
		echo "tmux: $$(tmux -V)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's tmux for the terminal test of gw status --watch..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			tmux >/dev/null) \
			|| echo "tmux could not be installed: the terminal test will be skipped"; \
	else \
		echo "tmux is missing and cannot be installed here: the terminal test will be skipped"; \
	fi

## make promtool: Prometheus' promtool for the alert rules' tests, unpacked from Debian's
## prometheus package into $(VENV)/bin (no Prometheus service is installed or started)
promtool: install
	@if [ -x $(VENV)/bin/promtool ]; then \
		echo "promtool: $$($(VENV)/bin/promtool --version 2>&1 | head -1)"; \
	elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then \
		echo "unpacking promtool from Debian's prometheus package for the alert rules' tests..."; \
		tmp=$$(mktemp -d); \
		{ [ "$$(id -u)" != 0 ] || apt-get update -qq; } \
			&& (cd $$tmp && apt-get download -qq prometheus >/dev/null 2>&1) \
			&& dpkg-deb -x $$tmp/prometheus_*.deb $$tmp/deb \
			&& cp $$tmp/deb/usr/bin/promtool $(VENV)/bin/promtool \
			|| echo "promtool could not be installed: the rules' promtool checks will be skipped"; \
		rm -rf $$tmp; \
	else \
		echo "promtool is missing and cannot be installed here: its checks will be skipped"; \
	fi

## make node: Node.js and npm for the JavaScript client's tests (Debian's nodejs and npm,
## needs root, if missing), then the client's devDependencies (ws, typescript) from the npm
## registry as clients/js/package-lock.json pins them
node:
	@missing=""; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -z "$$missing" ]; then \
		echo "node: $$(node --version), npm $$(npm --version)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's$$missing for the JavaScript client's tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$$missing >/dev/null) \
			|| echo "could not install$$missing: the JavaScript client's tests will be skipped"; \
	else \
		echo "missing$$missing, not installable here: the JavaScript client's tests will be skipped"; \
	fi
	@if command -v npm >/dev/null 2>&1 \
		&& [ ! clients/js/node_modules/.package-lock.json -nt clients/js/package-lock.json ]; then \
		(cd clients/js && npm ci --no-audit --no-fund --loglevel=error) \
			|| echo "npm ci failed: the JavaScript client's cluster and type tests will be skipped"; \
	fi

## make test: every test (unit, inproc, cluster, chat, browser, JavaScript client, deploy;
## multihost as root)
test: install browser php node tmux deploy-tools promtool engine
	@$(PY) -m pytest -ra -n $(TEST_JOBS) --dist loadfile; rc=$$?; $(ENGINE_STOP); exit $$rc

test-fast: install
	$(PY) -m pytest -ra -n $(TEST_JOBS) --dist loadfile -m "not browser" -x

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## make bench: the cluster and a single-process websockets baseline under the same load,
## one table with ratios (several minutes; bench-quick: about a minute). See docs/benchmarks.md
bench: install
	$(PY) -m bench

bench-quick: install
	$(PY) -m bench --quick

## make bench-scale: S8, 100,000 clients on this machine (CLIENTS=250000 for more; several
## minutes; it says which limit stops it, see deploy/sysctl/). See docs/benchmarks.md
CLIENTS ?= 100000
bench-scale: install
	$(PY) -m bench --scenarios S8 --clients $(CLIENTS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info clients/js/node_modules

## make deploy-check: the deploy files' tests (hadolint, kubernetes-validate, compose, systemd,
## the dashboard and alert rules, the image built and run). As root it first installs Debian's
## docker-compose and shellcheck (make deploy-tools), and promtool (make promtool), and starts
## a Docker engine (make engine), for the checks that use them (skipped, with the reason,
## where they are missing).
.PHONY: deploy-check deploy-tools image
deploy-check: install promtool deploy-tools engine
	@$(PY) -m pytest tests/deploy -ra; rc=$$?; $(ENGINE_STOP); exit $$rc

## make deploy-tools: Debian's docker-compose and shellcheck, for the compose file's and the
## systemd reload script's checks (needs root; make test and make deploy-check use it)
deploy-tools:
	@missing=""; \
	command -v shellcheck >/dev/null 2>&1 || missing="$$missing shellcheck"; \
	{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } \
		|| missing="$$missing docker-compose"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing for the deploy checks..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
			>/dev/null) || echo "could not install$$missing: those checks will be skipped"; \
	elif [ -n "$$missing" ]; then \
		echo "missing$$missing: those checks will be skipped"; \
	fi

## make image: the one image for every role (needs a Docker engine; IMAGE=registry/name:tag;
## IMAGE_FLAGS=--network=host on an engine without a bridge network, dockerd --bridge=none)
IMAGE ?= gatewayworker-py:latest
IMAGE_FLAGS ?=
image:
	docker build $(IMAGE_FLAGS) -f deploy/Dockerfile -t $(IMAGE) .

## make engine: a Docker engine for the image's tests (tests/deploy/test_image.py, which
## make the base image themselves where no registry is reachable: make image-base). As root,
## where none is running: Debian's docker.io (installed if missing), started as
## dockerd --iptables=false --bridge=none (no bridge, no firewall rules: the network
## namespace tests are left alone), its log in $(VENV)/dockerd.log. make test stops the
## engine it started (make engine-stop); an engine that was running already is left alone.
ENGINE_PID := $(VENV)/dockerd.pid
# Stops the engine make engine started: its pid, if that process is still a dockerd (a
# pidfile left by an interrupted run names no process, or another one, and is dropped).
ENGINE_STOP = if [ -f $(ENGINE_PID) ]; then \
		pid=$$(cat $(ENGINE_PID)); \
		if [ "$$(cat /proc/$$pid/comm 2>/dev/null)" = dockerd ]; then \
			kill $$pid; \
			for i in $$(seq 120); do kill -0 $$pid 2>/dev/null || break; sleep 0.25; done; \
			kill -9 $$pid 2>/dev/null; echo "docker engine stopped"; \
		fi; \
		rm -f $(ENGINE_PID); \
	fi
engine: install
	@if docker info >/dev/null 2>&1; then \
		echo "docker engine: $$(docker info --format '{{.ServerVersion}}')"; exit 0; fi; \
	$(ENGINE_STOP); \
	if [ "$$(id -u)" != 0 ]; then \
		echo "no Docker engine, and starting one needs root: the image tests will be skipped"; \
		exit 0; fi; \
	if ! command -v dockerd >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's docker.io for the image tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			docker.io >/dev/null) || true; fi; \
	if ! command -v dockerd >/dev/null 2>&1; then \
		echo "dockerd is missing and cannot be installed here: the image tests will be skipped"; \
		exit 0; fi; \
	nohup dockerd --iptables=false --bridge=none >$(VENV)/dockerd.log 2>&1 & \
	pid=$$!; echo $$pid >$(ENGINE_PID); \
	for i in $$(seq 120); do \
		docker info >/dev/null 2>&1 && break; kill -0 $$pid 2>/dev/null || break; sleep 0.25; \
	done; \
	if docker info >/dev/null 2>&1; then \
		echo "docker engine started for the image tests (log: $(VENV)/dockerd.log)"; \
	else \
		echo "dockerd did not start (see $(VENV)/dockerd.log): the image tests will be skipped"; \
		$(ENGINE_STOP); fi

engine-stop:
	@$(ENGINE_STOP)

## make image-base: where no image registry is reachable, a local stand-in for the
## Dockerfile's base (python:3.11-slim-bookworm: Debian bookworm, whose Python is 3.11),
## made with debootstrap from Debian's packages (root). It trusts this host's CA bundle
## (which may hold a proxy's) and lets pip install outside a venv, as the real one does.
.PHONY: image-base
image-base:
	@if docker image inspect python:3.11-slim-bookworm >/dev/null 2>&1; then \
		echo "python:3.11-slim-bookworm is here already"; exit 0; fi; \
	command -v debootstrap >/dev/null 2>&1 || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; \
	root=$$(mktemp -d); \
	debootstrap --variant=minbase \
		--include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
		bookworm $$root http://deb.debian.org/debian >/dev/null \
	&& cp /etc/ssl/certs/ca-certificates.crt $$root/etc/ssl/certs/ca-certificates.crt \
	&& rm -f $$root/var/cache/apt/archives/*.deb \
	&& tar -C $$root -c . | docker import --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
		--change 'CMD ["python3"]' - python:3.11-slim-bookworm; \
	rc=$$?; rm -rf $$root; exit $$rc
