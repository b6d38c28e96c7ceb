# Two commands for a fresh clone: `make run` (embedded: no services) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PORT ?= 8000

# Test services (real MariaDB + Redis). Tests own Redis DBs 10-12 and database test_$(TEST_DB_NAME).
TEST_DB_NAME ?= platform
TEST_MYSQL_HOST ?= 127.0.0.1
TEST_MYSQL_PORT ?= 3306
TEST_REDIS_HOST ?= 127.0.0.1
TEST_REDIS_PORT ?= 6379
TEST_ENV := DEBUG=1 \
	DATABASE_URL=mysql://root@$(TEST_MYSQL_HOST):$(TEST_MYSQL_PORT)/$(TEST_DB_NAME) \
	REDIS_URL=redis://$(TEST_REDIS_HOST):$(TEST_REDIS_PORT)/10 \
	REDIS_CACHE_URL=redis://$(TEST_REDIS_HOST):$(TEST_REDIS_PORT)/11 \
	CELERY_BROKER_URL=redis://$(TEST_REDIS_HOST):$(TEST_REDIS_PORT)/12 \
	CELERY_TASK_ALWAYS_EAGER=1 LOG_LEVEL=WARNING
PYTEST_ARGS ?=
# Debian packages the tests need: servers, MySQL client headers, promtool (rule tests), nginx
# (config test), Chromium (ops-page browser test, driven by Playwright; never a downloaded browser).
TEST_DEBIAN_PACKAGES := mariadb-server redis-server libmariadb-dev pkg-config prometheus chromium nginx-light

.PHONY: run reset install-prod test lint fmt migrations-check schema-check pytest pytest-fresh smoke bench bench-stats bench-python-path bench-posts \
	bench-tasks bench-sync venv venv-test services worker beat provider-stub \
	stack stack-status stack-down stack-clean bench-load drills fuzz

$(VENV)/.base: requirements/base.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install -q --python $(PY) -r requirements/base.lock
	touch $@

$(VENV)/.test: requirements/test.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install -q --python $(PY) -r requirements/test.lock
	touch $(VENV)/.base $@

venv: $(VENV)/.base
venv-test: services-packages $(VENV)/.test

# ------------------------------------------------------------------ embedded mode
# Absolute URLs (sitemap, e-mails) name the port this run serves on; an exported SITE_URL wins.
run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: venv
	mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py seed_demo --if-empty --users 50 --orders 200 --posts 40 --tasks 200
	$(PY) manage.py posts_sitemap_rebuild
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# Start again from an empty embedded database: the next `make run` migrates and seeds afresh.
reset:
	rm -f var/db.sqlite3 var/db.sqlite3-journal var/celerybeat-schedule*
	@echo "reset: embedded database removed; \`make run\` creates and seeds a new one"

# Production install (docs/operations.md): requirements/prod.lock exactly (runtime, granian, gunicorn,
# mysqlclient; no test tools) into .venv. Building mysqlclient needs python3-dev,
# libmariadb-dev, pkg-config and a C compiler. The dev markers go: `make test` reinstalls.
install-prod:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip sync -q --python $(PY) requirements/prod.lock
	rm -f $(VENV)/.base $(VENV)/.test

# ------------------------------------------------------------------ services for tests
services-packages:
	@missing=""; \
	for pkg in $(TEST_DEBIAN_PACKAGES); do \
		dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		case "$$missing" in *prometheus*) service prometheus stop >/dev/null 2>&1 || true;; esac; \
	fi

services: services-packages
	@bash deploy/dev/ensure-services.sh

# ------------------------------------------------------------------ checks
lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

fmt: $(VENV)/.test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(VENV)/.test
	$(PY) manage.py makemigrations --check --dry-run

schema-check: $(VENV)/.test
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

pytest: $(VENV)/.test
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

# The full run rebuilds the test database, so a migration edited in place can't hide behind --reuse-db.
pytest-fresh: $(VENV)/.test
	$(TEST_ENV) $(VENV)/bin/pytest --create-db $(PYTEST_ARGS)

smoke: $(VENV)/.test
	bash tests/smoke/embedded.sh

test: venv-test services lint migrations-check schema-check pytest-fresh smoke

# A deeper pass before a release: the fuzz tests of `make test` (tests/api/test_fuzz.py, which run
# 6 cases per operation, role and mode) with FUZZ_EXAMPLES cases and every schemathesis check.
# Figures per role and operation: var/fuzz-report.json (bench/results/fuzz.md has the last run).
FUZZ_EXAMPLES ?= 100
fuzz: venv-test services
	mkdir -p var
	$(TEST_ENV) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_ALL_CHECKS=1 FUZZ_REPORT=var/fuzz-report.json \
		$(VENV)/bin/pytest -o timeout=900 tests/api/test_fuzz.py $(PYTEST_ARGS)

# ------------------------------------------------------------------ processes (with services)
worker: $(VENV)/.test
	$(VENV)/bin/celery -A config worker -Q default,reminders,urgent,sync -l INFO

beat: $(VENV)/.test
	$(VENV)/bin/celery -A config beat -l INFO

provider-stub: $(VENV)/.test
	$(PY) manage.py run_provider_stub --port 8765

# ------------------------------------------------------------------ the whole system on one box
# nginx :STACK_PORT (8080) → 2 web servers, MariaDB primary + replica, Redis cache + coordination,
# Celery workers per queue, one beat, the provider stub; all on 127.0.0.1, state in STACK_DIR
# (var/stack). STACK_BROKER=rabbitmq, STACK_SEED_USERS (100000). deploy/stack/stack.py says more.
# The Debian packages come first (system python: the venv needs libmariadb-dev to build).
stack:
	$(PYTHON) deploy/stack/stack.py packages
	$(MAKE) $(VENV)/.test
	$(PY) deploy/stack/stack.py up

stack-status:
	@$(PYTHON) deploy/stack/stack.py status

stack-down:
	$(PYTHON) deploy/stack/stack.py down

# stack-down, then delete STACK_DIR (databases included): the next `make stack` starts fresh.
stack-clean:
	$(PYTHON) deploy/stack/stack.py clean

# Against the running stack: wrk + bench/load/*.lua through nginx → bench/results/load.md.
bench-load: $(VENV)/.test
	$(PY) deploy/stack/stack.py packages
	$(PY) bench/load.py

# Fault drills against the running stack: one `DRILL <name>: PASS|FAIL <figures>` line each,
# appended to bench/results/drills.md. DRILLS="rolling-restart broker-down" runs a subset.
DRILLS ?=
drills: $(VENV)/.test
	$(PY) bench/drills.py $(DRILLS)

# ------------------------------------------------------------------ benchmarks (not tests)
bench: bench-stats bench-posts bench-tasks bench-sync

bench-stats: venv-test services
	$(PY) bench/stats_bench.py

bench-python-path: venv-test services
	$(PY) bench/python_path.py

bench-posts: venv-test services
	$(PY) bench/posts_bench.py

bench-tasks: venv-test services
	$(PY) bench/tasks_bench.py

bench-sync: venv-test services
	$(PY) bench/sync_bench.py
