# make test  -- set up a fresh Debian machine (as root) and run the whole suite
# make demo  -- set up, start two throwaway Dovecot servers, copy a sample mailbox twice,
#               then a project in waves, then one monitor pass after a cutover
# make bench -- the copy benchmark against mbsync and dsync (see bench/)
# make test-interop -- build the Debian chroots of the other IMAP servers (once, cached), then
#                     run tests/interop with the slow matrix (~15 min); a missing server fails
#                     here; CI runs it after make test
# make test-interop-slice -- a quick slice of it: the imap4d chroot only (~1 min to build) and
#                     the tests that need it, not the matrix (a missing chroot fails here)
# make test-slow -- the slow tests (kill -9 loops and soaks, competing processes, PostgreSQL
#                   stores, a browser, the wheel installed, the README walkthrough; ~3 min on 2
#                   cores), marked `slow` and left out of `make test`; CI runs them after it
# make test-distributed -- the distributed workers' tests (worker processes, PostgreSQL,
#                          redis-server; a few minutes), not in `make test`; CI runs both
# make mutation -- mutation testing of the pure modules (mutmut; docs/mutation.md), not in `make test`
.PHONY: setup test test-slow test-distributed test-interop test-interop-slice demo bench lint mutation

setup:
	bash scripts/setup.sh

test: setup
	.venv/bin/python -m pytest -n 2 -q -m "not distributed and not slow"

test-slow: setup
	.venv/bin/python -m pytest -n 2 -q -m "slow and not distributed"

test-distributed: setup
	.venv/bin/python -m pytest -n 2 -q -m distributed

test-interop: setup
	bash scripts/testbed-chroot.sh
	MAILFERRY_INTEROP=1 .venv/bin/python -m pytest -n 2 -q tests/interop

test-interop-slice: setup
	bash scripts/testbed-chroot.sh imap4d
	MAILFERRY_INTEROP=1 .venv/bin/python -m pytest -n 2 -q -m "not interop" \
		-k "imap4d or uidplus" tests/interop

demo: setup
	.venv/bin/python scripts/demo.py

bench: setup
	.venv/bin/python bench/copy_bench.py

lint: setup
	.venv/bin/ruff check src tests bench scripts
	.venv/bin/mypy

mutation: setup
	rm -rf mutants
	.venv/bin/mutmut run --max-children 2
	.venv/bin/python scripts/mutation_score.py
