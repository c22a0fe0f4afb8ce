#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the PostgreSQL store.
#
#   eval "$(bash scripts/pg-test-cluster.sh start)"   # exports WASMCLAW_TEST_PG, WASMCLAW_TEST_PG_DIR
#   bash scripts/pg-test-cluster.sh stop              # stops it, removes its directory
#   bash scripts/pg-test-cluster.sh run CMD ARGS...   # start, run CMD, stop (whatever CMD's status)
#   bash scripts/pg-test-cluster.sh down DIR          # stops the server, keeps the cluster
#   bash scripts/pg-test-cluster.sh up DIR            # starts a cluster `down` stopped, as it was
#   bash scripts/pg-test-cluster.sh freeze DIR        # SIGSTOPs the server and its backends (a hung server)
#   bash scripts/pg-test-cluster.sh thaw DIR          # SIGCONTs them
#
# `start [DIR]` makes a fresh cluster in a new temporary directory, or in
# DIR, an empty directory `dir` made (so a caller can set its trap before
# `start` and stop what an interrupted start left). The cluster has a
# superuser role with a random password, scram-sha-256 for every
# connection, listens on 127.0.0.1 only at a free port, and has its Unix
# socket in a private directory (so it meets no other server on the
# machine). `start` waits until the server accepts connections, then prints
# two `export` lines on stdout (everything else goes to stderr):
#
#   WASMCLAW_TEST_PG      postgres://USER:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable
#   WASMCLAW_TEST_PG_DIR  the cluster's directory, what `stop` takes
#
# The cluster offers no TLS, hence `sslmode=disable` (the store requires
# verified TLS unless told otherwise). With PG_TEST_TLS=DIR, where DIR
# holds `server.crt` (PEM, the chain) and `server.key`, the cluster runs
# with `ssl=on` on them and accepts TCP connections only over TLS
# (`hostssl` lines alone in pg_hba.conf; the Unix socket still takes
# plain ones), and the URL printed has no sslmode: the caller knows its
# CA and names it (`sslrootcert=`).
#
# `down DIR` and `up DIR` are for fault tests (a database restarted under
# a running gateway): `down` stops the server (a fast shutdown: sessions
# are ended, committed work kept) and leaves the cluster; `up` starts it
# again with the options and port it had (pg_ctl's postmaster.opts).
# `freeze DIR` stops the server's processes (SIGSTOP: connections stay
# open, nothing answers, as a hung or partitioned server) and `thaw DIR`
# lets them go on.
#
# `stop [DIR]` (DIR defaults to $WASMCLAW_TEST_PG_DIR) stops the server and
# removes the directory; it does nothing when there is nothing to stop, so
# it is safe in a trap. It removes only a directory `start` made, or an
# empty one.
#
# The cluster runs with fsync, synchronous_commit and full_page_writes off
# (a test cluster need not survive a crash of the machine), unless
# PG_TEST_DURABLE=1, which keeps PostgreSQL's durable defaults: the
# benchmarks (`benches/run`) compare its writes with redb's, which fsync.
#
# PostgreSQL refuses to run as root: as root the cluster belongs to the
# `postgres` user. When no PostgreSQL is installed and we are root, `start`
# installs Debian's `postgresql` package (without its default cluster).
# PG_BINDIR overrides where initdb, pg_ctl and pg_isready are looked for.
set -euo pipefail

MARKER=.wasmclaw-pg-test-cluster
ROLE=wasmclaw_test

log() { printf 'pg-test-cluster: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

# The directory holding initdb, pg_ctl and pg_isready, or nothing.
find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        echo "$PG_BINDIR"
        return 0
    fi
    # Debian keeps the server binaries out of PATH, one directory per major
    # version: take the newest.
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" ]]; then
        echo "$d"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

install_postgres() {
    [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed (no initdb); install it (Debian: apt-get install postgresql) or set PG_BINDIR"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get to install it"
    log "installing PostgreSQL (apt-get install postgresql)"
    # The package would create and start a default cluster on port 5432;
    # the tests need none. createcluster.conf includes this directory (and
    # is the package's own file, which dpkg would ask about).
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/wasmclaw-tests.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        postgresql </dev/null >&2
}

# Runs a PostgreSQL binary as the cluster's owner.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A new empty directory for a cluster.
new_dir() { mktemp -d "${TMPDIR:-/tmp}/wasmclaw-pg.XXXXXXXX"; }

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_start() {
    local bindir
    bindir=$(find_bindir)
    if [[ -z "$bindir" ]]; then
        install_postgres
        bindir=$(find_bindir)
        [[ -n "$bindir" ]] || die "PostgreSQL was installed but no initdb was found"
    fi
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to own the cluster"
    fi

    local dir=${1:-}
    if [[ -z "$dir" ]]; then
        dir=$(new_dir)
    elif [[ ! -d "$dir" || -n "$(ls -A "$dir")" ]]; then
        die "$dir is not an empty directory"
    fi
    touch "$dir/$MARKER"
    # Remove the half-made cluster if anything below fails or a signal
    # comes (bash runs the EXIT trap on a signal only when the signal is
    # trapped).
    trap 'cmd_stop "$dir" || true' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    mkdir "$dir/sock"
    if [[ $EUID -eq 0 ]]; then
        chown -R postgres: "$dir"
        as_owner test -w "$dir" || die "the postgres user cannot write $dir (set TMPDIR to a directory it can reach)"
    fi

    local password
    password=$(random_hex 24)
    (umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
    [[ $EUID -ne 0 ]] || chown postgres: "$dir/pwfile"
    as_owner "$bindir/initdb" -D "$dir/data" -U "$ROLE" --pwfile="$dir/pwfile" \
        --auth=scram-sha-256 --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
        {
            cat "$dir/initdb.log" >&2
            die "initdb failed"
        }
    rm -f "$dir/pwfile"

    local tls=""
    if [[ -n "${PG_TEST_TLS:-}" ]]; then
        [[ -r "$PG_TEST_TLS/server.crt" && -r "$PG_TEST_TLS/server.key" ]] ||
            die "PG_TEST_TLS=$PG_TEST_TLS must hold server.crt and server.key"
        # The server wants its key private to its owner.
        (umask 077 && mkdir "$dir/tls" && cp "$PG_TEST_TLS/server.crt" "$PG_TEST_TLS/server.key" "$dir/tls/")
        [[ $EUID -ne 0 ]] || chown -R postgres: "$dir/tls"
        tls="-c ssl=on -c ssl_cert_file=$dir/tls/server.crt -c ssl_key_file=$dir/tls/server.key"
        printf '%s\n' "local   all all              scram-sha-256" \
            "hostssl all all 127.0.0.1/32 scram-sha-256" \
            "hostssl all all ::1/128      scram-sha-256" | as_owner tee "$dir/data/pg_hba.conf" >/dev/null
    fi

    # A free port: probe, start, and try another when the server could not
    # bind (another process took it in between).
    # fsync off: a test cluster need not survive a crash of the machine.
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [[ "${PG_TEST_DURABLE:-}" != 1 ]] || durability=""
    local port="" attempt
    for attempt in $(seq 1 20); do
        local candidate=$((20000 + RANDOM % 40000))
        port_in_use "$candidate" && continue
        if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $candidate -k $dir/sock $durability $tls -c max_connections=200" \
            start >&2; then
            port=$candidate
            break
        fi
        if ! grep -q "could not bind\|could not create any TCP/IP sockets" "$dir/server.log" 2>/dev/null; then
            cat "$dir/server.log" >&2 || true
            die "the server did not start"
        fi
        log "port $candidate was taken; trying another"
        rm -f "$dir/server.log"
    done
    [[ -n "$port" ]] || die "found no free port"

    local waited=0
    until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres; do
        waited=$((waited + 1))
        if [[ $waited -gt 60 ]]; then
            cat "$dir/server.log" >&2 || true
            die "the server did not become ready"
        fi
        sleep 1
    done

    trap - EXIT INT TERM HUP
    log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port, directory $dir"
    local params="?sslmode=disable"
    [[ -z "$tls" ]] || params=""
    printf "export WASMCLAW_TEST_PG='postgres://%s:%s@127.0.0.1:%s/postgres%s'\n" "$ROLE" "$password" "$port" "$params"
    printf "export WASMCLAW_TEST_PG_DIR='%s'\n" "$dir"
}

cmd_stop() {
    local dir=${1:-${WASMCLAW_TEST_PG_DIR:-}}
    [[ -n "$dir" && -d "$dir" ]] || return 0
    if [[ -z "$(ls -A "$dir")" ]]; then
        rmdir -- "$dir"
        return 0
    fi
    [[ -e "$dir/$MARKER" ]] || die "$dir is not a directory made by pg-test-cluster.sh start; not touching it"
    if [[ -e "$dir/data/postmaster.pid" ]]; then
        local bindir
        bindir=$(find_bindir)
        if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2; then
            log "fast shutdown failed; shutting down immediately"
            as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >&2 || true
        fi
    fi
    rm -rf -- "$dir"
    log "stopped; removed $dir"
}

# The cluster directory `dir` names, checked to be one `start` made.
cluster_dir() {
    local dir=${1:-${WASMCLAW_TEST_PG_DIR:-}}
    [[ -n "$dir" && -e "$dir/$MARKER" && -d "$dir/data" ]] ||
        die "${dir:-(no directory)} is not a cluster made by pg-test-cluster.sh start"
    echo "$dir"
}

cmd_down() {
    local dir bindir
    dir=$(cluster_dir "${1:-}")
    bindir=$(find_bindir)
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2
}

cmd_up() {
    local dir bindir
    dir=$(cluster_dir "${1:-}")
    bindir=$(find_bindir)
    # `restart` of a stopped server starts it with postmaster.opts: the
    # options (port, socket directory) `start` gave it.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 restart >&2
}

# The server's process and its children (backends, background workers).
server_pids() {
    local dir pid
    dir=$(cluster_dir "${1:-}")
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null) || die "the server of $dir is not running"
    echo "$pid"
    pgrep -P "$pid" || true
}

cmd_signal() {
    local sig=$1 pid
    for pid in $(server_pids "${2:-}"); do
        kill "-$sig" "$pid" 2>/dev/null || true
    done
}

cmd_run() {
    [[ $# -gt 0 ]] || die "usage: $0 run CMD [ARGS...]"
    local dir env
    dir=$(new_dir)
    trap 'cmd_stop "$dir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    env=$(cmd_start "$dir")
    eval "$env"
    local status=0
    "$@" || status=$?
    exit "$status"
}

case "${1:-}" in
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
dir) new_dir ;;
down) cmd_down "${2:-}" ;;
up) cmd_up "${2:-}" ;;
freeze) cmd_signal STOP "${2:-}" ;;
thaw) cmd_signal CONT "${2:-}" ;;
run)
    shift
    cmd_run "$@"
    ;;
*) die "usage: $0 start [DIR] | stop [DIR] | down DIR | up DIR | freeze DIR | thaw DIR | dir | run CMD [ARGS...]" ;;
esac
