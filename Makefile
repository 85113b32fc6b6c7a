# efa-check -- find broken EFA nodes before jobs start.
#
#   make            build prolog/efa-check and spank/spank_efa_check.so in place
#   make check      install missing build/test dependencies, run every test suite on this
#                   machine and, at the same time, in a Debian 13 tree (Slurm 24.11);
#                   PLATFORM=host or PLATFORM=trixie runs one (tests/platform/README.md)
#   make SLURM_HOME=/opt/slurm   build against a Slurm installed under a prefix (else pkg-config
#                   slurm, else the system's headers and libslurm)
#   make demo       install dependencies, build, boot a local test cluster, show the main job
#   make install    DESTDIR=... PREFIX=... SYSCONFDIR=... LIBDIR=...
#   make bench      benchmarks (bench/README.md)
#
# Sources are picked up by wildcard: a new prolog/<folder>/*.c is part of the binary
# (and of the unit-test library), a new tests/unit/<folder>/test_*.c is a new cmocka suite, a new
# tests/integration/*.sh is a new integration suite.

VERSION     := 0.1.0
PREFIX      ?= /usr
SBINDIR     ?= $(PREFIX)/sbin
LIBDIR      ?= $(PREFIX)/lib64
SLURMLIBDIR ?= $(LIBDIR)/slurm
SYSCONFDIR  ?= /etc
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DESTDIR     ?=

CC          ?= cc
PKG_CONFIG  ?= pkg-config
CUDA_HOME   ?= /usr/local/cuda

PKGS        := libfabric json-c pmix
PKG_CFLAGS  := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell $(PKG_CONFIG) --libs $(filter-out libfabric,$(PKGS)) 2>/dev/null)
# libfabric is not linked: prolog/fabric/fabric_dl.c loads it at run time (see there why).
FABRIC_LIBDIR := $(shell $(PKG_CONFIG) --variable=libdir libfabric 2>/dev/null)
FABRIC_LIBS := $(shell $(PKG_CONFIG) --libs libfabric 2>/dev/null)

# Slurm: SLURM_HOME (headers in $(SLURM_HOME)/include, libslurm in lib64/ or lib/), else
# `pkg-config slurm` (Slurm's own `make install` ships slurm.pc; Debian's libslurm-dev does not),
# else the compiler's default paths. The headers are system headers (-isystem): slurm.h has
# old-style prototypes (e.g. `void (*acct_full)();` in 22.05) that -Werror=strict-prototypes
# rejects on an -I path. libslurm outside the linker's default path is found through an rpath.
SLURM_HOME  ?=
ifneq ($(strip $(SLURM_HOME)),)
SLURM_INCDIR := $(SLURM_HOME)/include
SLURM_LIBDIR := $(patsubst %/,%,$(dir $(firstword $(wildcard $(SLURM_HOME)/lib64/libslurm.so \
                $(SLURM_HOME)/lib/libslurm.so $(SLURM_HOME)/lib/*/libslurm.so))))
ifeq ($(wildcard $(SLURM_INCDIR)/slurm/slurm.h),)
$(error SLURM_HOME=$(SLURM_HOME): no $(SLURM_INCDIR)/slurm/slurm.h)
endif
ifeq ($(SLURM_LIBDIR),)
$(error SLURM_HOME=$(SLURM_HOME): no libslurm.so in lib64/, lib/ or lib/<triplet>/)
endif
else
SLURM_INCDIR := $(shell $(PKG_CONFIG) --variable=includedir slurm 2>/dev/null)
SLURM_LIBDIR := $(shell $(PKG_CONFIG) --variable=libdir slurm 2>/dev/null)
endif
SYSTEM_LIBDIRS := /usr/lib /usr/lib64 /lib /lib64 $(wildcard /usr/lib/*-linux-gnu /lib/*-linux-gnu)
SLURM_CFLAGS := $(if $(filter-out /usr/include,$(SLURM_INCDIR)),-isystem $(SLURM_INCDIR))
comma       := ,
SLURM_LIBS  := $(if $(filter-out $(SYSTEM_LIBDIRS),$(SLURM_LIBDIR)),-L$(SLURM_LIBDIR) \
               -Wl$(comma)-rpath$(comma)$(SLURM_LIBDIR)) -lslurm
# the slurm_version.h the build uses (rpm/build.sh names the Slurm in the RPM's Release)
SLURM_VERSION_H := $(firstword $(wildcard $(if $(SLURM_INCDIR),$(SLURM_INCDIR),/usr/include)/slurm/slurm_version.h))

# CUDA/NCCL are loaded with dlopen at run time; their headers are used only when present.
HAVE_CUDA_HEADERS := $(shell test -f $(CUDA_HOME)/include/cuda_runtime_api.h && test -f $(CUDA_HOME)/include/nccl.h && echo 1)

WARN        := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
               -Wno-unused-parameter
HARDEN      := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
BASE_CFLAGS := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -DEFA_CHECK_VERSION='"$(VERSION)"' \
               -DEFA_CHECK_SYSCONFDIR='"$(SYSCONFDIR)"' -DEFA_CHECK_SBINDIR='"$(SBINDIR)"' \
               $(if $(FABRIC_LIBDIR),-DEFA_LIBFABRIC_PATH='"$(FABRIC_LIBDIR)/libfabric.so.1"') \
               -Iprolog $(SLURM_CFLAGS) $(PKG_CFLAGS)
CFLAGS      ?= -O2
ALL_CFLAGS  := $(BASE_CFLAGS) $(HARDEN) $(CFLAGS)
LDHARDEN    := -Wl,-z,relro -Wl,-z,now -Wl,--as-needed
LIBS        := $(PKG_LIBS) $(SLURM_LIBS) -ldl -lpthread -lm

SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_CFLAGS  := $(BASE_CFLAGS) -O1 -fPIC $(SAN_FLAGS)

B           := build

PROLOG_SRCS := $(sort $(wildcard prolog/*/*.c))
PROLOG_HDRS := $(sort $(wildcard prolog/*/*.h))
LIB_SRCS    := $(filter-out prolog/cli/main.c,$(PROLOG_SRCS))
LIB_OBJS    := $(LIB_SRCS:%.c=$(B)/%.o)
SAN_OBJS    := $(LIB_SRCS:%.c=$(B)/san/%.o)

# The plugin links only what it needs and never libfabric, CUDA or NCCL (DESIGN §1).
SPANK_SRCS  := $(sort $(wildcard spank/*.c))
SPANK_SHARED := $(wildcard prolog/env/envrules.c prolog/env/profiles.c prolog/core/strutil.c \
                  prolog/core/config.c prolog/core/config_keys.c prolog/core/config_values.c \
                  prolog/core/cachekey.c)
SPANK_OBJS  := $(SPANK_SRCS:%.c=$(B)/%.o) $(SPANK_SHARED:prolog/%.c=$(B)/spank-shared/%.o)

# tests/unit mirrors prolog/: tests/unit/<folder>/test_<name>.c -> build/tests/test_<name>
UNIT_SRCS   := $(sort $(wildcard tests/unit/*/test_*.c))
# helpers shared by several suites of a folder (e.g. tests/unit/core/config_test.h)
UNIT_HDRS   := $(sort $(wildcard tests/unit/*.h tests/unit/*/*.h))
UNIT_NAMES  := $(basename $(notdir $(UNIT_SRCS)))
UNIT_BINS   := $(UNIT_NAMES:%=$(B)/tests/%)
SAN_BINS    := $(UNIT_NAMES:%=$(B)/san/tests/%)
unit_src     = $(filter %/$(1).c,$(UNIT_SRCS))

FAULT_SRCS  := $(sort $(wildcard tests/faultlib/*.c))
FAULT_LIB   := $(if $(FAULT_SRCS),$(B)/tests/libefa-fault.so)

# The EFA personality layer (test double, tests/efa-personality/README.md)
PERSONALITY_SRCS := $(sort $(wildcard tests/efa-personality/*.c))
PERSONALITY_LIB  := $(if $(PERSONALITY_SRCS),$(B)/tests/libefa-personality.so)

# Test doubles: each tests/doubles/<name>/ directory becomes build/tests/doubles/lib<name>.so
DOUBLE_DIRS := $(sort $(patsubst tests/doubles/%/,%,$(dir $(wildcard tests/doubles/*/*.c))))
DOUBLE_LIBS := $(DOUBLE_DIRS:%=$(B)/tests/doubles/lib%.so)

# libFuzzer targets (clang): tests/fuzz/fuzz_<name>.c, seeds in tests/fuzz/corpus/<name>/
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_OBJS   := $(LIB_SRCS:%.c=$(B)/fuzz/%.o) $(B)/fuzz/prolog/profiles_table.o
FUZZ_CC     ?= clang
FUZZ_CFLAGS := $(filter-out -Werror,$(BASE_CFLAGS)) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer

TEST_HELPERS_SRCS := $(sort $(wildcard tests/helpers/*.c))
TEST_HELPERS := $(TEST_HELPERS_SRCS:tests/helpers/%.c=$(B)/tests/helpers/%)

.PHONY: all deps check check-unit check-unit-san check-integration demo install bench rpm clean \
        test-support fuzz cuda-build-check
.DELETE_ON_ERROR:
.SECONDEXPANSION:

all: prolog/efa-check $(if $(SPANK_SRCS),spank/spank_efa_check.so)

deps:
	@EFA_PLATFORMS="$(PLATFORM)" sh tests/deps.sh

# ---- product ---------------------------------------------------------------

$(B)/prolog/profiles_table.c: etc/instance-profiles.conf tests/embed.sh
	@mkdir -p $(@D)
	sh tests/embed.sh efa_builtin_profiles $< > $@

$(B)/prolog/%.o: prolog/%.c $(PROLOG_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/prolog/profiles_table.o: $(B)/prolog/profiles_table.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libefacheck.a: $(LIB_OBJS) $(B)/prolog/profiles_table.o
	@rm -f $@
	$(AR) rcs $@ $^

prolog/efa-check: $(B)/prolog/cli/main.o $(B)/libefacheck.a
	$(CC) $(ALL_CFLAGS) $(LDHARDEN) -pie -o $@ $^ $(LIBS)

$(B)/spank/%.o: spank/%.c $(wildcard spank/*.h) $(PROLOG_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Ispank -c -o $@ $<

$(B)/spank-shared/%.o: prolog/%.c $(PROLOG_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

spank/spank_efa_check.so: $(SPANK_OBJS) $(B)/prolog/profiles_table.o spank/spank_efa_check.map
	$(CC) $(ALL_CFLAGS) $(LDHARDEN) -shared -Wl,--version-script=spank/spank_efa_check.map \
		-o $@ $(SPANK_OBJS) $(B)/prolog/profiles_table.o

# ---- tests -------------------------------------------------------------------

$(B)/san/prolog/%.o: prolog/%.c $(PROLOG_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -c -o $@ $<

$(B)/san/libefacheck.a: $(SAN_OBJS) $(B)/prolog/profiles_table.c
	@mkdir -p $(B)/san/prolog
	$(CC) $(SAN_CFLAGS) -c -o $(B)/san/prolog/profiles_table.o $(B)/prolog/profiles_table.c
	@rm -f $@
	$(AR) rcs $@ $(SAN_OBJS) $(B)/san/prolog/profiles_table.o

$(B)/tests/test_%: $$(call unit_src,test_$$*) $(B)/libefacheck.a $(UNIT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(B)/libefacheck.a $(LIBS) -lcmocka

$(B)/san/tests/test_%: $$(call unit_src,test_$$*) $(B)/san/libefacheck.a $(UNIT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -Itests/unit -o $@ $< $(B)/san/libefacheck.a $(LIBS) -lcmocka

$(B)/tests/libefa-fault.so: $(FAULT_SRCS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $^ $(LIBS) $(FABRIC_LIBS)

$(B)/tests/libefa-personality.so: $(PERSONALITY_SRCS) $(wildcard tests/efa-personality/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(PERSONALITY_SRCS) -ldl -lpthread $(FABRIC_LIBS)

$(B)/tests/doubles/lib%.so: $(wildcard tests/doubles/*/*.c) $(wildcard tests/doubles/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(wildcard tests/doubles/$*/*.c) -lpthread -lrt

$(B)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBS) $(FABRIC_LIBS)

$(B)/fuzz/prolog/%.o: prolog/%.c $(PROLOG_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/fuzz/prolog/profiles_table.o: $(B)/prolog/profiles_table.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LIBS)

fuzz: $(FUZZ_BINS)

# The dlopen'ed CUDA/NCCL entry points compiled against the real headers, when present
# (also run by tests/integration/cuda_abi.sh and cross.sh in make check).
cuda-build-check:
ifeq ($(HAVE_CUDA_HEADERS),1)
	CUDA_HOME=$(CUDA_HOME) sh tests/cuda-abi-check.sh
	CUDA_HOME=$(CUDA_HOME) sh tests/nccl-build-check.sh
else
	@echo "cuda-build-check: no cuda_runtime_api.h/nccl.h under $(CUDA_HOME)/include: skipped"
endif

test-support: all $(FAULT_LIB) $(PERSONALITY_LIB) $(DOUBLE_LIBS) $(TEST_HELPERS)

# Platforms `make check` runs, at the same time: host (this machine) and the Debian root
# filesystems in tests/platform/<name>.conf (built with debootstrap, cached outside the
# repository). Set on the command line only (make check PLATFORM=host): an environment
# variable named PLATFORM (common in CI) is not taken.
PLATFORM    = host trixie

# The other platforms start first and run beside this machine's build and suites
# (tests/run-tests.sh): the build is handed over as EFA_HOST_BUILD.
check: deps
	@EFA_PLATFORMS="$(PLATFORM)" \
	 EFA_HOST_BUILD="$(MAKE) --no-print-directory all test-support $(UNIT_BINS) $(SAN_BINS)" \
	 sh tests/run-tests.sh

check-unit: $(UNIT_BINS)
	@sh tests/run-tests.sh unit

check-unit-san: $(SAN_BINS)
	@sh tests/run-tests.sh unit-san

check-integration: test-support
	@sh tests/run-tests.sh integration

# ---- demo, install, bench, rpm --------------------------------------------

demo: deps
	@$(MAKE) --no-print-directory all test-support
	@sh tests/demo.sh

install: all
	install -D -m 0755 prolog/efa-check $(DESTDIR)$(SBINDIR)/efa-check
	ln -sf efa-check $(DESTDIR)$(SBINDIR)/efa-check-prolog
	ln -sf efa-check $(DESTDIR)$(SBINDIR)/efa-check-health
	install -D -m 0755 spank/spank_efa_check.so $(DESTDIR)$(SLURMLIBDIR)/spank_efa_check.so
	install -D -m 0644 etc/efa-check.conf $(DESTDIR)$(SYSCONFDIR)/slurm/efa-check.conf
	install -D -m 0644 etc/plugstack.conf.d/efa-check.conf \
		$(DESTDIR)$(SYSCONFDIR)/slurm/plugstack.conf.d/efa-check.conf
	install -D -m 0644 etc/instance-profiles.conf $(DESTDIR)$(DATADIR)/efa-check/instance-profiles.conf
	install -D -m 0644 prolog/efa-check.8 $(DESTDIR)$(MANDIR)/man8/efa-check.8
	install -D -m 0644 spank/spank_efa_check.8 $(DESTDIR)$(MANDIR)/man8/spank_efa_check.8

bench: deps
	@$(MAKE) --no-print-directory all test-support
	@sh bench/run.sh

rpm: all
	@SLURM_VERSION_H=$(SLURM_VERSION_H) SLURM_HOME=$(SLURM_HOME) sh rpm/build.sh $(VERSION)

clean:
	rm -rf $(B) prolog/efa-check spank/spank_efa_check.so
