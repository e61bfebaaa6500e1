# lua-dcs developer Makefile.  The rockspec builds the same sources for
# LuaRocks users; this file is for working on the project.
#
#   make            build build/<LUA>/dcs/core.so        (LUA=lua5.4 by default)
#   make demo       install what is missing, start the emulator, run the main job
#   make check      install what is missing, build, run every test
#   make deps       install the Debian packages the project needs (apt-get)

LUA        ?= lua5.4
LUA_INCDIR ?= $(firstword $(wildcard /usr/include/$(LUA) /usr/include/luajit-2.1 /usr/include/lua))
CC         ?= cc
CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-function
SHARED     := -shared -fPIC -fvisibility=hidden
LIBS       := -lcurl -lmbedcrypto
BUILD      := build/$(LUA)
SO         := $(BUILD)/dcs/core.so
SRC        := csrc/core.c csrc/lsign.c csrc/lhttp.c csrc/dcs_sign.c csrc/dcs_http.c csrc/dcs_buf.c
HDR        := $(wildcard csrc/*.h)

.PHONY: all deps demo check clean

all: $(SO)

$(SO): $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(SHARED) -I$(LUA_INCDIR) -o $@ $(SRC) $(LIBS)

deps:
	@tools/install-deps

demo: deps all
	@tools/demo

check: deps all
	@tools/check

clean:
	rm -rf build
