# lua-dcs developer Makefile.  The rockspec builds the same sources for
# LuaRocks users; this file is for working on the project.
#
#   make            build build/<LUA>/dcs/core.so  (LUA=lua5.4 by default; lua5.3, luajit)
#   make demo       install what is missing, start the emulator, run the main job
#   make check      install what is missing, build, run every test
#   make test       build and run every test, installing nothing (the rockspec's test)
#   make deps       install the Debian packages the project needs (apt-get)
#   make bench      signing against a Python peer, downloads against curl -o,
#                   fan-out, a host loop and single-connection calls against a
#                   local nginx and a raw libcurl loop, the example C host's
#                   ticks; one table at the end (README, Performance)
#   make docs       the HTML reference of the API (LDoc, config.ld) in build/docs,
#                   and the copy the rock installs in docs/reference (not committed)
#   make install    the man page and the bash completion of dcs-logs, under
#                   $(DESTDIR)$(PREFIX)/share (the rock installs the modules and the command)
#   make smoke      the main job against the real service (opt-in: needs credentials;
#                   says it skipped otherwise)
#   make embed      build/<LUA>/libdcs.a, libdcs.so and dcs.pc: the C core and the
#                   whole Lua layer in one library for C hosts (include/dcs.h)
#   make embed-host build/<LUA>/embed/game-host: examples/embed/, a 60 Hz game loop
#   make embed-tests build/<LUA>/embed/threads, lifetime and preload (spec/embed/); EMBED=tsan
#                   builds libdcs and the programs with ThreadSanitizer, in build/<LUA>-tsan
#   make bench-embed the example host's tick overruns against the emulator (bench/embed.lua)

# LUA picks the Lua ABI: lua5.4 (default), lua5.3, or luajit (5.1 ABI, for
# OpenResty/nginx).  One source; the API differences are in csrc/compat.h.
LUA        ?= lua5.4
ifeq ($(LUA),luajit)
LUA_INCDIR ?= /usr/include/luajit-2.1
else
LUA_INCDIR ?= /usr/include/$(LUA)
endif
CC         ?= cc
CFLAGS     ?= -O2 -g
# CPPFLAGS and LDFLAGS, empty here, are a distribution's own (Debian's
# dpkg-buildflags: -D_FORTIFY_SOURCE=2, -Wl,-z,relro): what the module,
# libdcs and the C hosts are built with, as make's built-in rules do.
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
SHARED     := -shared -fPIC -fvisibility=hidden
LIBS       := -lcurl -lmbedcrypto -pthread
# One version string: lua/dcs/version.lua; the C core gets it from here (and
# the rockspec's defines, checked by spec/package_spec.lua).
VERSION    := $(shell sed -n 's/^return "\([^"]*\)".*/\1/p' lua/dcs/version.lua)
DEFS       := -DDCS_VERSION=$(VERSION)
BUILD      := build/$(LUA)
SO         := $(BUILD)/dcs/core.so
SRC        := csrc/core.c csrc/lsign.c csrc/lhttp.c csrc/lengine.c csrc/lreq.c csrc/lresult.c csrc/lutil.c \
              csrc/lfile.c csrc/dcs_sign.c csrc/dcs_sign_key.c csrc/dcs_sha256.c csrc/dcs_http.c csrc/dcs_engine.c \
              csrc/dcs_transfer.c csrc/dcs_buf.c \
              csrc/dcs_file.c csrc/dcs_headers.c
SRC        += csrc/lsignal.c
HDR        := $(wildcard csrc/*.h)

ASAN_SO    := build/asan/dcs/core.so
ASAN_FLAGS := -g -O1 -fsanitize=address,undefined -shared-libsan -fno-omit-frame-pointer \
              -fno-sanitize-recover=all

.PHONY: all asan deps demo check test bench clean install uninstall smoke docs

# Lua 5.4 (5.3) reads LUA_PATH_5_4 (_5_3) before LUA_PATH: a user's own
# would win over the checkout's paths the demo, the tests, the benches and
# the smoke test set.
unexport LUA_PATH_5_4 LUA_CPATH_5_4 LUA_PATH_5_3 LUA_CPATH_5_3

all: $(SO)

$(SO): $(SRC) $(HDR) lua/dcs/version.lua
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEFS) $(SHARED) -I$(LUA_INCDIR) $(LDFLAGS) -o $@ $(SRC) $(LIBS)

# dcs/core.so for Lua 5.4 built by clang with ASan+UBSan (tools/check loads
# it with the ASan runtime preloaded).
asan: $(ASAN_SO)
$(ASAN_SO): $(SRC) $(HDR) lua/dcs/version.lua
	@mkdir -p $(dir $@)
	clang $(ASAN_FLAGS) $(WARN) $(DEFS) $(SHARED) -I/usr/include/lua5.4 -o $@ $(SRC) $(LIBS)

deps:
	@tools/install-deps

demo: deps all
	@tools/demo

check: deps all
	@tools/check

# deps before the build, not beside it: with -j (MAKEFLAGS) prerequisites
# run at once, and on a fresh machine the compiler comes with deps.
ifneq ($(filter demo check,$(MAKECMDGOALS)),)
$(SO): | deps
endif

test: all
	@tools/check

# Each bench runs its variants and their peer in the same run (not tests:
# numbers vary): signing against a Python signer, downloads against curl -o
# and the SHA-256 alone, fan-out against its ideal, a 60 Hz host loop's
# share of a tick, single-connection calls against a raw libcurl loop
# (bench/curl_loop.c; the engine alone from C beside it, bench/engine_loop.c);
# then one table of every figure (bench/table.lua).
BENCH_ENV  := LUA_PATH="lua/?.lua;lua/?/init.lua;bench/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;"
# bench/embed.lua starts the emulator through spec/support
EMBED_BENCH_ENV := LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;"
CURL_LOOP  := build/bench/curl_loop
ENGINE_LOOP := build/bench/engine_loop
# what the engine needs of csrc/, no Lua binding
ENGINE_SRC := csrc/dcs_engine.c csrc/dcs_transfer.c csrc/dcs_http.c csrc/dcs_buf.c csrc/dcs_file.c \
              csrc/dcs_headers.c csrc/dcs_sha256.c

$(CURL_LOOP): bench/curl_loop.c bench/c_loop.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -o $@ bench/curl_loop.c -lcurl

$(ENGINE_LOOP): bench/engine_loop.c bench/c_loop.h $(ENGINE_SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -Icsrc -o $@ bench/engine_loop.c $(ENGINE_SRC) $(LIBS)

bench: all $(CURL_LOOP) $(ENGINE_LOOP) embed-host
	@mkdir -p build/bench && rm -f build/bench/summary.tsv
	$(BENCH_ENV) $(LUA) bench/sign.lua
	$(BENCH_ENV) $(LUA) bench/download.lua
	$(BENCH_ENV) $(LUA) bench/fanout.lua
	$(BENCH_ENV) $(LUA) bench/hostloop.lua
	$(BENCH_ENV) $(LUA) bench/throughput.lua
	$(EMBED_BENCH_ENV) $(LUA) bench/embed.lua
	@$(BENCH_ENV) $(LUA) bench/table.lua

# The reference is generated from the annotations in the sources, never
# committed.  LuaRocks's builtin build runs no tool and copies only
# directories of the source tree, and `luarocks doc` looks in the rock's
# doc/ or docs/: so the rock copies docs/ (copy_directories), and this puts
# the reference there too, in docs/reference (ignored by git), for a rock
# built or packed after `make docs`.
docs:
	@command -v ldoc >/dev/null || { echo "make docs: needs ldoc (Debian: lua-ldoc; make deps)" >&2; exit 1; }
	@rm -rf build/docs docs/reference
	@ldoc -q . && cp -R build/docs docs/reference
	@echo "docs: build/docs/index.html (and docs/reference for the rock)"

# and what LuaRocks builds where it runs, as in the checkout (README,
# Install): csrc/*.o and dcs/core.so, which a "./?.so" cpath would load
clean:
	rm -rf build docs/reference
	rm -f csrc/*.o dcs/core.so
	if [ -d dcs ]; then rmdir dcs; fi

# What LuaRocks has no place for: man to share/man/man1, the completion to
# share/bash-completion/completions (where bash-completion loads it on demand).
PREFIX     ?= /usr/local
MANDIR     ?= $(PREFIX)/share/man/man1
COMPDIR    ?= $(PREFIX)/share/bash-completion/completions

# Quoted: a staging directory's name may hold spaces.
install:
	install -d "$(DESTDIR)$(MANDIR)" "$(DESTDIR)$(COMPDIR)"
	install -m 644 man/dcs-logs.1 "$(DESTDIR)$(MANDIR)/dcs-logs.1"
	install -m 644 completion/dcs-logs.bash "$(DESTDIR)$(COMPDIR)/dcs-logs"

uninstall:
	rm -f "$(DESTDIR)$(MANDIR)/dcs-logs.1" "$(DESTDIR)$(COMPDIR)/dcs-logs"

# ---- Embedding: one archive, one header (include/dcs.h) ----
# libdcs holds csrc/ and every lua/dcs/ module (tools/embed-lua turns them
# into build/<LUA>/gen/dcs_lua.c: generated, never edited or committed);
# dcs_preload(L) is its one exported symbol (the archive is one relocatable
# object whose other symbols are made local).  The host links libcurl,
# libmbedcrypto, pthreads and its own Lua.  EMBED=tsan builds the same
# with clang -fsanitize=thread under build/<LUA>-tsan (tools/check).
#   make embed-tests  build/<LUA>/embed/threads, lifetime and preload (spec/embed/,
#                     run by spec/embed_spec.lua)
EMBED      ?=
EMBED_DIR  := $(BUILD)$(if $(EMBED),-$(EMBED))
ifeq ($(EMBED),tsan)
EMBED_CC   := clang
EMBED_CFLAGS := -g -O1 -fsanitize=thread -fno-omit-frame-pointer
else
EMBED_CC   := $(CC)
EMBED_CFLAGS := $(CFLAGS)
endif
LUA_LIBS   ?= $(shell pkg-config --libs $(LUA))
EMBED_LUA  := $(sort $(wildcard lua/dcs/*.lua lua/dcs/*/*.lua))
EMBED_OBJ  := $(patsubst csrc/%.c,$(EMBED_DIR)/obj/%.o,$(SRC) csrc/embed.c) $(EMBED_DIR)/obj/dcs_lua.o
EMBED_LIB  := $(EMBED_DIR)/libdcs.a
# libdcs.a is one relocatable object whose hidden symbols objcopy makes
# local: machine code, not the LTO form (-flto=auto in Ubuntu's and
# Fedora's packaging flags), which objcopy cannot rewrite.
EMBED_OBJ_FLAGS := -fPIC -fvisibility=hidden -fno-lto
EMBED_PC   := PKG_CONFIG_PATH=$(EMBED_DIR) pkg-config
# $(shell) pastes pkg-config's words into the command, where the shell
# reads the backslashes of a directory's escaped spaces (dcs.pc, PC_DIR).
EMBED_LINK  = $(EMBED_CC) $(CPPFLAGS) $(EMBED_CFLAGS) $(WARN) $(shell $(EMBED_PC) --cflags dcs) -I$(LUA_INCDIR) \
              $(LDFLAGS) -o $@ $< \
              $(shell $(EMBED_PC) --variable=archive dcs) $(shell $(EMBED_PC) --variable=deps dcs) $(LUA_LIBS)
# pkg-config splits a field at spaces: the checkout's own are escaped in dcs.pc
space      := $(subst ,, )
PC_DIR     := $(subst $(space),\\$(space),$(CURDIR))

.PHONY: embed embed-host embed-tests bench-embed FORCE

embed: $(EMBED_LIB) $(EMBED_DIR)/libdcs.so $(EMBED_DIR)/dcs.pc
embed-host: $(EMBED_DIR)/embed/game-host
embed-tests: $(EMBED_DIR)/embed/threads $(EMBED_DIR)/embed/lifetime $(EMBED_DIR)/embed/preload

# A module removed or renamed leaves every date as it was: the list of
# files is kept in gen/lua-files, rewritten only when it changes.
$(EMBED_DIR)/gen/lua-files: FORCE
	@mkdir -p $(dir $@)
	@echo '$(EMBED_LUA)' | cmp -s - $@ || echo '$(EMBED_LUA)' > $@

$(EMBED_DIR)/gen/dcs_lua.c: tools/embed-lua $(EMBED_LUA) $(EMBED_DIR)/gen/lua-files
	@mkdir -p $(dir $@)
	$(LUA) tools/embed-lua $@ $(EMBED_LUA)

$(EMBED_DIR)/obj/dcs_lua.o: $(EMBED_DIR)/gen/dcs_lua.c csrc/dcs_embedded.h
	@mkdir -p $(dir $@)
	$(EMBED_CC) $(CPPFLAGS) $(EMBED_CFLAGS) $(WARN) $(EMBED_OBJ_FLAGS) -Icsrc -c -o $@ $<

$(EMBED_DIR)/obj/%.o: csrc/%.c $(HDR) include/dcs.h lua/dcs/version.lua
	@mkdir -p $(dir $@)
	$(EMBED_CC) $(CPPFLAGS) $(EMBED_CFLAGS) $(WARN) $(DEFS) -DDCS_EMBED $(EMBED_OBJ_FLAGS) \
	  -I$(LUA_INCDIR) -c -o $@ $<

# One object, hidden symbols made local: a static link sees dcs_preload only.
$(EMBED_LIB): $(EMBED_OBJ)
	ld -r -o $(EMBED_DIR)/libdcs.o $(EMBED_OBJ)
	objcopy --localize-hidden $(EMBED_DIR)/libdcs.o
	rm -f $@
	ar rcs $@ $(EMBED_DIR)/libdcs.o

$(EMBED_DIR)/libdcs.so: $(EMBED_OBJ)
	$(EMBED_CC) $(EMBED_CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libdcs.so -o $@ $(EMBED_OBJ) $(LIBS) -lm

# dcs.pc names the checkout's directory, which no date follows (a checkout
# moved or copied): written each run, replaced only when its text changes.
$(EMBED_DIR)/dcs.pc: tools/dcs.pc.in FORCE
	@mkdir -p $(dir $@)
	@sed -e 's|@VERSION@|$(VERSION)|' -e 's|@LUA@|$(LUA)|' -e 's|@LIBDIR@|$(PC_DIR)/$(EMBED_DIR)|' \
	  -e 's|@INCLUDEDIR@|$(PC_DIR)/include|' $< > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# Linked as the README says a host links: pkg-config, the archive.
$(EMBED_DIR)/embed/game-host: examples/embed/host.c $(EMBED_LIB) $(EMBED_DIR)/dcs.pc
	@mkdir -p $(dir $@)
	$(EMBED_LINK)

$(EMBED_DIR)/embed/%: spec/embed/%.c $(EMBED_LIB) $(EMBED_DIR)/dcs.pc
	@mkdir -p $(dir $@)
	$(EMBED_LINK)

# The example host's ticks that overran, and by how much (not a test).
bench-embed: all embed-host
	$(EMBED_BENCH_ENV) $(LUA) bench/embed.lua

# The main job against the real service: list, link, download one log.  Needs
# HUAWEICLOUD_SDK_AK, _SK, _REGION and DCS_SMOKE_INSTANCE; never part of check.
smoke: all
	@tools/smoke
