# trainserver: build, test and demo. Run as root on Debian 12 (bookworm).
#
#   make demo    build the package, boot a Debian 12 guest under qemu and show it at work
#   make check   install build and test dependencies, then run every test (what CI runs)

# Debian's own interpreter and tools: pybuild calls python3.11 from PATH, and a pyenv or venv
# python3 first on PATH lacks the python3-* packages the tools run with.
export PATH := /usr/sbin:/usr/bin:/sbin:/bin
PYTHON := /usr/bin/python3
VERSION := $(shell dpkg-parsechangelog -S Version 2>/dev/null || sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
DIST := dist
DEB := $(DIST)/trainserver_$(VERSION)_all.deb
# Programs the tests drive for real, the package's own Python dependencies (the tests run the
# tools from the source tree before the .deb is installed), and the tools to build, lint and
# test the package.
TEST_PACKAGES := python3-pyudev python3-requests tzdata \
	lintian autopkgtest man-db util-linux systemd python3-pytest smartmontools \
	docker.io mmdebstrap systemd-journal-remote btrfs-progs python3-btrfsutil python3-hypothesis \
	btrbk qemu-system-x86 qemu-utils e2fsprogs bcache-tools fdisk gdisk restic rclone \
	acl openssh-server openssh-client python3-seccomp fuse3 docker-compose python3-yaml iproute2 prometheus \
	ufw fail2ban nut-server nut-client

.PHONY: all deps test unit integration deb lint install autopkgtest vm-test vm-programs check demo bench clean

all: deb

# apt's and dpkg's output (some 450 lines on a fresh machine) goes to DEPS_LOG, one run's worth;
# tests/logged shows one line a phase, and the failing command's last lines if one fails. Not in
# the tree: `make deb` empties dist/, and the package build's clean removes build/.
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

deb:
	rm -rf $(DIST) && mkdir -p $(DIST)
	dpkg-buildpackage -us -uc --build=source,binary
	mv ../trainserver_$(VERSION)_all.deb ../trainserver_$(VERSION).dsc \
		../trainserver_$(VERSION).tar.xz ../trainserver_$(VERSION)_*.buildinfo \
		../trainserver_$(VERSION)_*.changes $(DIST)/
	@echo "built $(DEB)"

lint: deb
	lintian --fail-on error,warning --info --display-info $(DIST)/trainserver_$(VERSION)_*.changes

install: deb
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall ./$(DEB)

# The null runner runs the tests on this machine; they change nothing but install the package.
# It runs only the tests that need no whole machine: the isolation-machine ones (which it would
# report as skipped, exit 2) run in a qemu guest under vm-test.
NULL_TESTS = $(shell $(PYTHON) -c 'from tests.vm.harness import parse_control; \
	print(" ".join("--test-name " + t.name for t in parse_control() if not t.needs_machine))')
autopkgtest: deb
	autopkgtest --output-dir $(DIST)/autopkgtest $(NULL_TESTS) $(DEB) ./ -- null

# The unit tests run inside the package build (dh_auto_test, with the Build-Depends alone) and
# again against the installed package (autopkgtest): not a third time here.
check: deps lint integration install autopkgtest vm-test

# The README's first command: build the .deb, boot the Debian 12 guest (tests/vm/) and show the
# suite at work on its emulated disks. The guest image is built once and cached.
demo: deps deb
	$(PYTHON) tests/vm/run --demo --deb $(DEB)

# Names in one line what the VM harness needs and this machine lacks (qemu, mmdebstrap, ...),
# before the package is built.
vm-programs:
	@$(PYTHON) tests/vm/run --check-programs

# Every whole-machine autopkgtest (isolation-machine) in a fresh qemu guest each, plus the
# harness's own robustness tests (timeout, interrupt).
# -s: each scenario's start, its steps and their times as they happen (a scenario takes
# minutes; pytest would otherwise show one dot for it at its end).
vm-test: vm-programs deb
	TRAINSERVER_DEB=$(DEB) $(PYTHON) -m pytest -q -s -m vm tests/vm

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
