# The two commands a new user needs (see README):
#   make run    the whole local pipeline with sample traffic and the wallboard
#   make test   the test suite against a real local Kafka broker
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench system-deps bench-deps clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash deploy/install-system-deps.sh

bench-deps:
	bash deploy/install-system-deps.sh bench

run: $(STAMP)
	deploy/kafka/kafka-local.sh start
	$(VENV)/bin/intake up

test: $(STAMP) system-deps
	deploy/kafka/kafka-local.sh start
	$(VENV)/bin/pytest -q -p no:cacheprovider --durations=15

bench: $(STAMP) bench-deps
	deploy/kafka/kafka-local.sh start
	$(VENV)/bin/python -m bench

clean:
	-deploy/kafka/kafka-local.sh stop
	rm -rf .data
