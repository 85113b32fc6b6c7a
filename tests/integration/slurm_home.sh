#!/bin/sh
# make SLURM_HOME=DIR: a Slurm installed under a prefix (headers in DIR/include, libslurm in
# DIR/lib). Its headers are system headers (-isystem): slurm.h has old-style prototypes that
# -Werror=strict-prototypes rejects on an -I path; the binaries find libslurm through an rpath.
# Here DIR is a copy of this platform's Slurm headers plus an old-style prototype of our own
# (so the copy is provably the one included), and a link to its libslurm.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1

inc=$(for d in /usr/include /usr/local/include; do [ -f "$d/slurm/slurm.h" ] && echo "$d" && break; done)
lib=$(for d in /usr/lib/*-linux-gnu /usr/lib64 /usr/lib; do [ -e "$d/libslurm.so" ] && echo "$d" && break; done)
if [ -z "$inc" ] || [ -z "$lib" ]; then
	not_ok "this platform's Slurm headers and libslurm.so (libslurm-dev)"; done_testing; exit
fi
S=$T_TMP/slurm
mkdir -p "$S/include" "$S/lib"
cp -r "$inc/slurm" "$S/include/"
printf '\n/* added by tests/integration/slurm_home.sh */\nextern int efa_check_slurm_home_marker();\n' \
	>> "$S/include/slurm/slurm_version.h"
for f in "$lib"/libslurm.so "$lib"/libslurm.so.[0-9]*; do [ -e "$f" ] && ln -s "$f" "$S/lib/"; done

# the copy is what gets included, and on an -I path it breaks -Werror
run_capture plain_i cc -std=gnu11 -Werror -Wstrict-prototypes -D_GNU_SOURCE -Iprolog -I"$S/include" \
	-fsyntax-only prolog/slurm/drain.c
check "with -I DIR/include the old-style prototypes fail -Werror=strict-prototypes (exit $RC)" \
	test "$RC" -ne 0
expect_grep "... in the copy (efa_check_slurm_home_marker)" "efa_check_slurm_home_marker" "$T_TMP/plain_i.err"

# make SLURM_HOME=: every object that includes a Slurm header, and a program linked with $(LIBS)
B2=$T_TMP/build
objs=$(grep -l '#include <slurm/' prolog/*/*.c spank/*.c | sed "s|^prolog/|$B2/prolog/|; s|^spank/|$B2/spank/|; s|\.c\$|.o|")
run_capture build make -s -j2 B="$B2" SLURM_HOME="$S" $objs "$B2/tests/helpers/pmix_hello"
expect_rc "make SLURM_HOME=DIR compiles the $(echo $objs | wc -w) objects that include Slurm headers with -Werror" 0 build
run_capture flags make -s -n -B B="$B2" SLURM_HOME="$S" "$B2/prolog/slurm/drain.o"
expect_grep "the Slurm headers are included with -isystem DIR/include" "-isystem $S/include" "$T_TMP/flags.out"
if [ -x "$B2/tests/helpers/pmix_hello" ]; then
	readelf -d "$B2/tests/helpers/pmix_hello" > "$T_TMP/dyn" 2>&1
	expect_grep "a program linked with libslurm has DIR/lib in its run path" "(RPATH|RUNPATH).*$S/lib" "$T_TMP/dyn"
fi

# a wrong SLURM_HOME is a clear error, not a build against the system's Slurm
run_capture bad make -s B="$B2" SLURM_HOME="$T_TMP/nowhere" all
check "SLURM_HOME without slurm/slurm.h fails (exit $RC)" test "$RC" -ne 0
expect_grep "... naming what is missing" "SLURM_HOME=$T_TMP/nowhere: no .*slurm/slurm.h" "$T_TMP/bad.err"
done_testing
