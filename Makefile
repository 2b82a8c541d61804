# Two commands do all the set-up on a fresh clone:
#   make run    -> the assistant (the local chat in this terminal when BOT_TOKEN is not set)
#   make test   -> the whole test suite (SQLite always; PostgreSQL and Redis when reachable)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run chat test lint bench i18n clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/i18n.py compile
	$(VENV)/bin/studentbot

chat: $(STAMP)
	$(PY) scripts/i18n.py compile
	$(VENV)/bin/studentbot chat

test: $(STAMP)
	$(PY) scripts/i18n.py compile
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check bot handlers knowledge tests bench scripts devtools
	$(VENV)/bin/ruff format --check bot handlers knowledge tests bench scripts devtools
	$(VENV)/bin/mypy bot handlers knowledge

i18n: $(STAMP)
	$(PY) scripts/i18n.py extract
	$(PY) scripts/i18n.py check

clean:
	rm -rf $(VENV) .pytest_cache
