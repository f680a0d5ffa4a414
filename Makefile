# trainserver: build, test and demo. Run as root on Debian 12 (bookworm).
#
#   make demo    build the package, boot a Debian 13 guest under qemu and show it at work
#                (make demo SUITE=bookworm: a Debian 12 guest)
#   make check   install build and test dependencies, then run every test (what CI runs)

# Debian's own interpreter and tools: pybuild calls python3.11 from PATH, and a pyenv or venv
# python3 first on PATH lacks the python3-* packages the tools run with.
export PATH := /usr/sbin:/usr/bin:/sbin:/bin
PYTHON := /usr/bin/python3
VERSION := $(shell dpkg-parsechangelog -S Version 2>/dev/null || sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
DIST := dist
DEB := $(DIST)/trainserver_$(VERSION)_all.deb
# The guest's release for `make demo`: trixie (Debian 13) or bookworm (Debian 12).
SUITE ?= trixie
# What the clean-chroot builds make (tests/build/clean-build): each release's own package.
CLEAN_DEB = $(DIST)/$(1)/trainserver_$(VERSION)_all.deb
# Programs the tests drive for real, the package's own Python dependencies (the tests run the
# tools from the source tree before the .deb is installed), and the tools to build, lint and
# test the package.
TEST_PACKAGES := python3-pyudev python3-requests tzdata \
	lintian autopkgtest man-db util-linux systemd python3-pytest smartmontools \
	docker.io mmdebstrap systemd-journal-remote btrfs-progs python3-btrfsutil python3-hypothesis \
	btrbk qemu-system-x86 qemu-utils e2fsprogs bcache-tools fdisk gdisk restic rclone \
	acl openssh-server openssh-client python3-seccomp fuse3 docker-compose python3-yaml iproute2 prometheus \
	ufw fail2ban nut-server nut-client

.PHONY: all deps test unit integration deb lint install install-deb autopkgtest autopkgtest-deb \
	clean-builds clean-build-bookworm clean-build-trixie vm-test vm-programs vm-upgrade check \
	check-stream-1 check-stream-2 demo bench clean

all: deb

# apt's and dpkg's output (some 450 lines on a fresh machine) goes to DEPS_LOG, one run's worth;
# tests/logged shows one line a phase, and the failing command's last lines if one fails. Not in
# the tree: `make deb` clears dist/ of packages, and the package build's clean removes build/.
DEPS_LOG ?= /var/log/trainserver-tests/deps.log
deps:
	@mkdir -p $(dir $(DEPS_LOG)) && : > $(DEPS_LOG)
	@tests/logged $(DEPS_LOG) "deps: updating the package lists" apt-get update -q
	@DEBIAN_FRONTEND=noninteractive tests/logged $(DEPS_LOG) \
		"deps: installing the build and test packages" \
		apt-get install -y -q --no-install-recommends build-essential $(TEST_PACKAGES)
	@DEBIAN_FRONTEND=noninteractive tests/logged $(DEPS_LOG) \
		"deps: installing the Build-Depends" apt-get build-dep -y -q ./
	@# Debian 13's restic beside the system's, for the backup tests of newer restic behaviour.
	@tests/logged $(DEPS_LOG) "deps: fetching Debian 13's restic for the backup tests" \
		$(PYTHON) tests/integration/restic_releases.py

unit:
	$(PYTHON) -m pytest -q tests/unit

# Exit status 5 is pytest's "no tests ran": integration tests may all be skipped off root.
integration:
	$(PYTHON) -m pytest -q tests/integration; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

test: unit integration

# dist/ also holds the clean builds (dist/bookworm, dist/trixie) and the guests' logs (dist/vm).
deb:
	mkdir -p $(DIST) && rm -f $(DIST)/trainserver_*
	dpkg-buildpackage -us -uc --build=source,binary
	mv ../trainserver_$(VERSION)_all.deb ../trainserver_$(VERSION).dsc \
		../trainserver_$(VERSION).tar.xz ../trainserver_$(VERSION)_*.buildinfo \
		../trainserver_$(VERSION)_*.changes $(DIST)/
	@echo "built $(DEB)"

lint: deb
	lintian --fail-on error,warning --info --display-info $(DIST)/trainserver_$(VERSION)_*.changes

# A clean-chroot build of each release, as a buildd makes it: only build-essential and the
# Build-Depends, with and without the test dependencies (nocheck), each release's lintian.
# The two run side by side (`make -j2 clean-builds`): each is mostly downloads, dpkg and one
# single-threaded pytest.
# (Explicit rules: make skips the pattern-rule search for .PHONY targets.)
clean-builds: clean-build-bookworm clean-build-trixie
clean-build-bookworm clean-build-trixie:
	$(PYTHON) tests/build/clean-build $(@:clean-build-%=%)

install: deb install-deb
INSTALL_DEB = env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall ./$(DEB)
install-deb:
	$(INSTALL_DEB)

# The null runner runs the tests on this machine; they change nothing but install the package.
# It runs only the tests that need no whole machine: the isolation-machine ones (which it would
# report as skipped, exit 2) run in a qemu guest under vm-test.
# NULL_SKIP: tests left out (make check leaves out `unit`: both clean builds ran those tests,
# on the same code, a few minutes before; `units` and `help` test what installing adds).
NULL_SKIP ?=
NULL_TESTS = $(shell $(PYTHON) -c 'from tests.vm.harness import parse_control; \
	print(" ".join("--test-name " + t.name for t in parse_control() \
	               if not t.needs_machine and t.name not in "$(NULL_SKIP)".split()))')
RUN_AUTOPKGTEST = autopkgtest --output-dir $(DIST)/autopkgtest $(NULL_TESTS) $(DEB) ./ -- null
autopkgtest: deb autopkgtest-deb
autopkgtest-deb:
	rm -rf $(DIST)/autopkgtest
	$(RUN_AUTOPKGTEST)

# The unit tests run inside each clean build (dh_auto_test, with the Build-Depends alone): not
# a third time against the installed package. What this machine (Debian 12) installs and tests
# is its release's clean build; the guests install their own release's.
#
# After the clean builds, two streams side by side: the guests are most of the time, and a guest
# alone uses its second core only part of the time (docs/vm-testing.md). Stream 1 is guests only;
# stream 2 runs the integration tests and the null autopkgtest first, then (FRESH_MACHINE_DEMO=yes,
# as .ci/run sets it) the README's demo command on a fresh Debian 12 chroot
# (tests/build/fresh-machine), then the shorter guests. tests/vm/conftest.py STREAMS says which
# guest runs where, with the figures that balance them. tests/prefixed labels each line with its
# stream. (The streams' commands are written out, not sub-makes: a sub-make behind tests/prefixed
# has no jobserver.)
check: deps
	$(MAKE) -j2 --output-sync=line clean-builds
	$(PYTHON) tests/vm/run --check-programs
	$(MAKE) -j2 --keep-going check-stream-1 check-stream-2

FRESH_MACHINE_DEMO ?=
CHECK_DEBS = TRAINSERVER_DEB_BOOKWORM=$(call CLEAN_DEB,bookworm) \
	TRAINSERVER_DEB_TRIXIE=$(call CLEAN_DEB,trixie)
VM_PYTEST = $(PYTHON) -m pytest -q -s -m vm $(VM_TEST_ARGS) tests/vm
check-stream-1:
	$(CHECK_DEBS) TRAINSERVER_VM_STREAM=1 tests/prefixed guests-1 $(VM_PYTEST)
check-stream-2: DEB = $(call CLEAN_DEB,bookworm)
check-stream-2: NULL_SKIP = unit
check-stream-2:
	tests/prefixed integration $(PYTHON) -m pytest -q tests/integration
	tests/prefixed autopkgtest $(INSTALL_DEB)
	rm -rf $(DIST)/autopkgtest
	tests/prefixed autopkgtest $(RUN_AUTOPKGTEST)
	$(if $(FRESH_MACHINE_DEMO),tests/prefixed fresh-machine \
		$(PYTHON) tests/build/fresh-machine --share-image-cache demo)
	$(CHECK_DEBS) TRAINSERVER_VM_STREAM=2 tests/prefixed guests-2 $(VM_PYTEST)

# The README's first command: build the .deb, boot the Debian 13 guest (tests/vm/) and show the
# suite at work on its emulated disks. The guest image is built once and cached.
# nocheck: the demo shows the suite at work; the unit tests are `make check`'s (a minute or two).
# The build's 800 lines go to BUILD_LOG, as apt's go to DEPS_LOG.
BUILD_LOG ?= /var/log/trainserver-tests/build.log
demo: deps
	@: > $(BUILD_LOG)
	@DEB_BUILD_OPTIONS=nocheck tests/logged $(BUILD_LOG) "demo: building the package" \
		$(MAKE) --no-print-directory deb
	$(PYTHON) tests/vm/run --demo --suite $(SUITE) --deb $(DEB)

# Names in one line what the VM harness needs and this machine lacks (qemu, mmdebstrap, ...),
# before the package is built.
vm-programs:
	@$(PYTHON) tests/vm/run --check-programs

# The whole-machine autopkgtests (isolation-machine) in fresh qemu guests, Debian 13 and 12
# (tests/vm/harness.py SUITE_TESTS says which run on which), the demo, and the harness's own
# robustness tests (timeout, interrupt). Each guest installs this machine's `make deb`
# ($TRAINSERVER_DEB); `make check` gives each release its clean build instead.
# -s: each scenario's start, its steps and their times as they happen (a scenario takes
# minutes; pytest would otherwise show one dot for it at its end).
# VM_TEST_ARGS: more pytest arguments (.ci/run deselects the demo, which it runs on a fresh
# machine instead).
vm-test: vm-programs deb
	TRAINSERVER_DEB=$(DEB) $(PYTHON) -m pytest -q -s -m vm $(VM_TEST_ARGS) tests/vm

# Not in CI (it needs deb.debian.org and takes some 30 minutes under TCG): a configured Debian 12
# guest with the Debian 12 build is dist-upgraded to Debian 13, then gets the Debian 13 build
# (tests/vm/upgrade; docs/vm-testing.md). Uses `make clean-builds`' packages.
vm-upgrade: vm-programs
	$(PYTHON) tests/vm/upgrade --bookworm-deb $(call CLEAN_DEB,bookworm) \
		--trixie-deb $(call CLEAN_DEB,trixie)

bench:
	$(PYTHON) bench/startup
	$(PYTHON) bench/snapshot
	$(PYTHON) bench/storage
	$(PYTHON) bench/backup
	$(PYTHON) bench/quota
	$(PYTHON) bench/rclone

clean:
	rm -rf $(DIST) .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
