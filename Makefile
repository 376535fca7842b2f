# Chinese first-line support bot. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
WITH_ENV := scripts/with-env.sh
PY_DIRS := bot tests handoff evaluation shop_api widget security contracts ops migrations
# ruff over every Python folder; mypy over the services and contracts ([tool.mypy] in
# pyproject.toml, cache in .mypy_cache/: a second run checks only what changed).
LINT := $(VENV)/bin/ruff check $(PY_DIRS) && $(VENV)/bin/mypy

export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

# Rasa's paths, passed once here and nowhere else.
RASA_DATA := --data bot/data --domain domain --config config.yml
RASA_OUT := --out bot/models

# The model is named after a fingerprint of everything that shapes it, including the jieba
# dictionary and the custom NLU components, which Rasa's own training cache does not watch.
# Computed once per make run, so training and serving always name the same file.
TRAIN_INPUTS := config.yml $(shell find domain bot/data bot/dictionary bot/nlu bot/emotion -type f \
	-not -name '*.pyc' -not -path '*/__pycache__/*' | LC_ALL=C sort)
FINGERPRINT := $(shell for f in $(TRAIN_INPUTS); do echo "$$f"; cat "$$f"; done | sha256sum | cut -c1-12)
MODEL := bot/models/shop-$(FINGERPRINT).tar.gz

.PHONY: help install browser train model-path run shell test test-fast lint validate shop-api handoff agent widget faq eval eval-topics eval-study export-traffic eval-faq eval-emotion emotion-model probe bench bench-quick migration migrations-check retention forget demo-traffic bench-reports lock mutation vendor-js clean run-prod servers test-scale

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## Create .venv/ with Python 3.10 and the pinned dependencies (no-op when up to date)
	@scripts/setup.sh

train: install ## Train the model, only when data, config, domain or dictionary changed
	@if [ -f "$(MODEL)" ]; then \
		echo "==> model up to date: $(MODEL)"; \
	else \
		echo "==> training $(MODEL)"; \
		$(RASA) train $(RASA_DATA) $(RASA_OUT) --fixed-model-name shop-$(FINGERPRINT) --force \
			&& ls -1t bot/models/shop-*.tar.gz | tail -n +4 | xargs -r rm -f; \
	fi

model-path: ## Print the path of the model that matches the current data
	@echo $(MODEL)

run: train ## Start every service (Rasa, actions, shop API, handoff, widget) under supervisord; Ctrl-C stops all
	@$(WITH_ENV) scripts/run.sh "$(MODEL)"

shell: train ## Chat with the bot in the terminal
	@$(WITH_ENV) scripts/shell.sh "$(MODEL)"

browser: ## Install Debian's chromium and chromium-driver for the browser tests (no-op when present)
	@scripts/ensure-chromium.sh

test: install browser ## Run the linter and the whole test suite (trains a model if needed)
	@scripts/prod/install.sh  # PostgreSQL for the store tests' PostgreSQL variants (tests/postgres.py)
	@$(LINT)
	@$(WITH_ENV) $(PY) -m pytest

test-fast: install ## Lint and the tests that need no trained model, browser or PostgreSQL (a few minutes)
	@$(LINT)
	@$(WITH_ENV) $(PY) -m pytest -m "not model and not browser and not postgres"

validate: install ## Check the training data and domain for consistency
	@$(RASA) data validate $(RASA_DATA) --fail-on-warnings

lint: install ## Lint (ruff) and type-check (mypy: bot, handoff, shop_api, contracts) the Python code
	@$(LINT)

shop-api: install ## Run only the demo shop API (RESET=1 reseeds var/shop/shop.db)
	@$(WITH_ENV) bash -c '$(PY) -m shop_api --port "$$SHOP_API_PORT" --db "$$SHOP_DB" $(if $(RESET),--reset)'

handoff: install ## Run only the handoff service and agent console (HANDOFF_PORT, 8000)
	@$(WITH_ENV) bash -c 'RASA_URL="$${RASA_URL:-http://127.0.0.1:$$RASA_PORT}" $(PY) -m handoff serve'

agent: install ## Create an agent account for the console: make agent NAME=xiaowang [DISPLAY=小王] [ROLE=supervisor]
	@test -n "$(NAME)" || { echo "usage: make agent NAME=login [DISPLAY=name customers see] [ROLE=agent|supervisor]" >&2; exit 2; }
	@$(WITH_ENV) $(PY) -m handoff create-agent "$(NAME)" $(if $(DISPLAY),--display-name "$(DISPLAY)") $(if $(ROLE),--role "$(ROLE)")

widget: install ## Run only the widget server: demo shop page with the chat widget (WIDGET_PORT, 8080)
	@$(WITH_ENV) bash -c 'RASA_URL="$${RASA_URL:-http://127.0.0.1:$$RASA_PORT}" \
		$(PY) -m widget --port "$$WIDGET_PORT" --db "$$WIDGET_DB"'

faq: install ## After editing bot/data/faq/: map new entries to topics, validate, retrain
	@$(PY) -m bot.faq
	@$(WITH_ENV) $(PY) -m pytest -q -p no:cacheprovider tests/test_faq_content.py tests/test_data_quality.py
	@$(MAKE) -s train

eval: train ## Evaluation report: intents, topics, entities, FAQ, test stories (reports/README.md)
	@$(WITH_ENV) $(PY) -m evaluation.report $(MODEL) --out reports

eval-topics: install ## Topic accuracy of a topic-labelled TSV: make eval-topics FILE=path.tsv
	@test -n "$(FILE)" || { echo "usage: make eval-topics FILE=file.tsv (columns id, topic, text)" >&2; exit 2; }
	@$(MAKE) -s train
	@$(PY) -m evaluation.topics $(MODEL) "$(FILE)" --out reports/topics.md

eval-study: train ## Topic and emotion figures on the labelled study set, working and held-out halves
	@$(PY) -m evaluation.study $(MODEL) --out reports/study.md

export-traffic: install ## Messages the bot missed or handed off -> reports/to_label.tsv (SINCE=YYYY-MM-DD, LABELLED=queue.tsv)
	@$(WITH_ENV) bash -c '$(PY) -m evaluation.export_traffic --db "$$TRACKER_DB" --out reports/to_label.tsv $(if $(SINCE),--since $(SINCE)) $(if $(LABELLED),--labelled "$(LABELLED)")'

eval-emotion: install ## Emotion detector figures on ../shared/data (writes reports/emotion.md)
	@$(PY) -m evaluation.emotion --out reports/emotion.md

emotion-model: install ## Rebuild bot/emotion/corpus_model.json from ../shared/study/corpora (MODEL_CARD.md)
	@$(PY) -m bot.emotion.build

eval-faq: train ## FAQ retrieval on held-out phrasings and on the blind set (reports/faq.md, faq_blind.md)
	@$(PY) -m evaluation.faq $(MODEL) --out reports/faq.md
	@$(PY) -m evaluation.faq $(MODEL) --heldout tests/faq/heldout_fresh.yml --out reports/faq_blind.md

probe: install ## Hostile-input probe against a running `make run`: cases per endpoint, 4xx, 5xx, crashes, hangs
	@$(WITH_ENV) $(PY) -m security.probe

bench: install ## Speed against a plain Rasa baseline over REST and NLU at 1/10/50 conversations -> reports/bench/
	@$(WITH_ENV) $(PY) -m evaluation.benchmark $(MODEL)

bench-quick: install ## Shorter `make bench` for development (fewer messages per level)
	@$(WITH_ENV) $(PY) -m evaluation.benchmark $(MODEL) --quick --label quick

migration: install ## New migration of a store from its code: make migration SERVICE=handoff MSG="agent notes"
	@test -n "$(SERVICE)" -a -n "$(MSG)" || { echo 'usage: make migration SERVICE=handoff|shop_api|widget|outbox|wechat MSG="what changed"' >&2; exit 2; }
	@$(PY) -m migrations revision "$(SERVICE)" -m "$(MSG)"

migrations-check: install ## Check that every store's migrations create exactly the schema of its code
	@$(PY) -m migrations check all

retention: install ## Delete what is older than RETENTION_DAYS in every store (DAYS=N, DRY_RUN=1)
	@$(WITH_ENV) $(PY) -m ops.retention $(if $(DAYS),--days $(DAYS)) $(if $(DRY_RUN),--dry-run)

forget: install ## Delete one customer's conversations and handoffs everywhere: make forget CUSTOMER=... [DRY_RUN=1]
	@test -n "$(CUSTOMER)" || { echo "usage: make forget CUSTOMER=sender-id|openid|customer-id|phone [DRY_RUN=1]" >&2; exit 2; }
	@$(WITH_ENV) $(PY) -m ops.forget "$(CUSTOMER)" $(if $(DRY_RUN),--dry-run)

demo-traffic: install ## A few hundred demo conversations through the running `make run` (N=300), agents answer some
	@$(WITH_ENV) $(PY) -m evaluation.demo_traffic $(if $(N),--conversations $(N))

bench-reports: install ## Reports on 100,000 synthetic conversations: naive scan vs summary table (N=100000)
	@$(PY) -m evaluation.reports_bench $(if $(N),--conversations $(N))

lock: install ## Re-resolve requirements.in into requirements.lock with pip-compile, keeping current pins (UPGRADE=1: all)
	@scripts/lock.sh

mutation: install ## Mutation testing of a module by its tests: make mutation MODULE=bot/core/clock.py TESTS=tests/actions/test_clock.py
	@scripts/mutation.sh $(MODULE) $(TESTS)

vendor-js: ## Re-download the vendored socket.io-client (pinned version, sha512 checked) into widget/static/vendor/
	@scripts/vendor-socketio.sh

clean: ## Remove trained models, caches and runtime data (keeps .venv/)
	rm -rf bot/models/*.tar.gz .rasa results var .pytest_cache

run-prod: train ## Production profile: PostgreSQL, Redis, RabbitMQ, 2 Rasa replicas behind nginx (docs/production.md); secrets from the environment
	@scripts/prod/run.sh "$(MODEL)"

servers: ## Install (apt) and start the production servers on loopback: PostgreSQL, Redis, RabbitMQ (scripts/prod/servers.sh)
	@scripts/prod/install.sh && scripts/prod/servers.sh start

test-scale: train ## Production topology under load: >= 200 conversations, a replica killed, broker restarted -> reports/scale.md
	@$(PY) -m evaluation.scale "$(MODEL)"
