#!/usr/bin/env bash
# bench/compare.sh: bucket-server next to nginx and vsftpd, on one machine.
#
# Moves the same file (1 GiB of random bytes; SIZE_MIB=… to change) over
# 127.0.0.1 with each server and prints one table: iperf3's single-stream
# loopback figure (the ceiling), nginx (GET with sendfile; PUT through its
# DAV module), vsftpd (RETR, STOR; anonymous, passive) and bucket-server
# (DOWNLOAD, UPLOAD with bkt-transfer, over FsStore and over MemStore through
# bkt-serve), each as the median wall time of RUNS rounds (default 3; each
# round runs every row once, in turn, so a round's rows share the machine's
# state of that minute), with its
# ratio to the best peer, and bkt-serve's peak RSS (VmHWM) during the 1 GiB
# upload and download. Two dd rows give the disk's ceiling for durable
# writes (page cache + fsync, and O_DIRECT), and a second FsStore server
# shows uploads staged without direct I/O.
#
#   bash bench/compare.sh            # installs what is missing (apt, as root)
#   RUNS=5 SIZE_MIB=2048 bash bench/compare.sh
#
# Every daemon runs in the foreground with its own configuration in a
# temporary folder under /var/tmp (same filesystem as the files it serves),
# bound to 127.0.0.1 on free ports; everything it started is stopped and the
# folder removed on exit. Takes about 2.5 minutes once built. Needs root.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
WORKSPACE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$WORKSPACE/target}"
BYTES=$((SIZE_MIB * 1024 * 1024))

# log, die, PIDS, TMP, cleanup on exit, median.
source "$WORKSPACE/bench/lib.sh"
POLICY_RC_ADDED=""
bench_cleanup_hook() {
    if [[ -n "$POLICY_RC_ADDED" ]]; then rm -f /usr/sbin/policy-rc.d; fi
}

# ---- tools ------------------------------------------------------------------

# vsftpd runs as (and writes its uploads for) the ftp user, and missing
# tools are installed with apt-get: both need root. Say so before anything.
[[ $(id -u) -eq 0 ]] || die "run as root: vsftpd runs as the ftp user, and missing tools are installed with apt-get"
find_tool() { # name: path of the program, also in the sbin folders
    command -v "$1" 2>/dev/null || { [[ -x "/usr/sbin/$1" ]] && echo "/usr/sbin/$1"; } || true
}
need=()
[[ -n "$(find_tool nginx)" ]] || need+=(nginx)
[[ -n "$(find_tool vsftpd)" ]] || need+=(vsftpd)
[[ -n "$(find_tool iperf3)" ]] || need+=(iperf3)
[[ -n "$(find_tool curl)" ]] || need+=(curl)
[[ -n "$(find_tool python3)" ]] || need+=(python3)
[[ -n "$(find_tool ss)" ]] || need+=(iproute2)
if ((${#need[@]})); then
    log "installing ${need[*]} (apt-get)"
    # Keep package scripts from starting system-wide services (nginx on :80,
    # vsftpd on :21): the daemons below run on their own configuration.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_ADDED=1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
    if [[ -n "$POLICY_RC_ADDED" ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_ADDED=""; fi
fi
NGINX=$(find_tool nginx)
VSFTPD=$(find_tool vsftpd)
IPERF3=$(find_tool iperf3)
"$NGINX" -V 2>&1 | grep -q -- '--with-http_dav_module' ||
    die "this nginx has no DAV module (PUT); install nginx-full or nginx-extras"
getent passwd ftp >/dev/null || die "vsftpd's anonymous user 'ftp' does not exist"

log "building bkt-serve and bkt-transfer (release)"
cargo build --quiet --release -p bucket-bench --bins --manifest-path "$WORKSPACE/Cargo.toml" >&2
BKT_SERVE="$TARGET_DIR/release/bkt-serve"
BKT_TRANSFER="$TARGET_DIR/release/bkt-transfer"

# ---- workspace --------------------------------------------------------------
TMP=$(mktemp -d /var/tmp/bkt-compare.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP"/{data,logs,www,nginx-tmp,bkt-fs,bkt-buf,ftp-empty} "$TMP/ftp/pub"
chown ftp "$TMP/ftp/pub" # anonymous FTP writes here; its root stays read-only
FS_DESC=$(findmnt -no FSTYPE,SOURCE -T "$TMP" 2>/dev/null | tr -s ' ' || echo '?')
SRC="$TMP/data/file.bin"
log "writing $SIZE_MIB MiB of random bytes to $SRC"
head -c "$BYTES" /dev/urandom >"$SRC"
chmod 644 "$SRC"
# The same inode everywhere (hard links on one filesystem): no copies.
ln "$SRC" "$TMP/www/file.bin"
ln "$SRC" "$TMP/ftp/pub/file.bin"
# FsStore serves it as bench/file.bin (a bucket is a folder).
mkdir "$TMP/bkt-fs/bench"
ln "$SRC" "$TMP/bkt-fs/bench/file.bin"
sync

free_ports() { # N: N distinct free TCP ports on 127.0.0.1
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
free_range() { # N: first port of N consecutive free ports on 127.0.0.1
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(40000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("no free port range")
EOF
}
wait_listening() { # port pid: until something listens on 127.0.0.1:port
    local i
    for i in $(seq 100); do
        if ss -Hltn "sport = :$1" | grep -q .; then return 0; fi
        kill -0 "$2" 2>/dev/null || die "the daemon for port $1 exited; see $TMP/logs"
        sleep 0.1
    done
    die "nothing listens on port $1 after 10 s"
}
now_ns() { date +%s%N; }
start_bg() { # logfile cmd...: runs cmd in the background, records its pid
    local logf=$1
    shift
    "$@" >"$logf" 2>&1 &
    PIDS+=("$!")
    LAST_PID=$!
}
read -r P_IPERF P_NGINX P_FTP P_BKT_FS P_BKT_MEM P_BKT_BUF <<<"$(free_ports 6)"
P_PASV=$(free_range 10)

# ---- daemons ----------------------------------------------------------------
cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/logs/nginx-error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_max_body_size 0;
    # PUT bodies go to a temporary file in pieces of this size (default 16k):
    # the same 256 KiB the bucket-server reads with.
    client_body_buffer_size 256k;
    client_body_temp_path $TMP/nginx-tmp/body;
    proxy_temp_path $TMP/nginx-tmp/proxy;
    fastcgi_temp_path $TMP/nginx-tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx-tmp/uwsgi;
    scgi_temp_path $TMP/nginx-tmp/scgi;
    server {
        listen 127.0.0.1:$P_NGINX;
        root $TMP/www;
        location / {
            dav_methods PUT;
            dav_access user:rw group:r all:r;
        }
    }
}
EOF
cat >"$TMP/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$P_FTP
background=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$TMP/ftp
local_enable=NO
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
anon_umask=022
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$P_PASV
pasv_max_port=$((P_PASV + 9))
connect_from_port_20=NO
xferlog_enable=NO
use_sendfile=YES
secure_chroot_dir=$TMP/ftp-empty
pam_service_name=vsftpd
EOF
chmod 755 "$TMP/ftp"

start_bg "$TMP/logs/iperf3.log" "$IPERF3" -s -B 127.0.0.1 -p "$P_IPERF"
wait_listening "$P_IPERF" "$LAST_PID"
start_bg "$TMP/logs/nginx.log" "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/logs/nginx-error.log"
wait_listening "$P_NGINX" "$LAST_PID"
start_bg "$TMP/logs/vsftpd.log" "$VSFTPD" "$TMP/vsftpd.conf"
wait_listening "$P_FTP" "$LAST_PID"
start_bg "$TMP/logs/bkt-fs.log" "$BKT_SERVE" --listen "127.0.0.1:$P_BKT_FS" --root "$TMP/bkt-fs"
PID_BKT_FS=$LAST_PID
wait_listening "$P_BKT_FS" "$PID_BKT_FS"
start_bg "$TMP/logs/bkt-buf.log" "$BKT_SERVE" --listen "127.0.0.1:$P_BKT_BUF" --root "$TMP/bkt-buf" --no-direct-io
wait_listening "$P_BKT_BUF" "$LAST_PID"
start_bg "$TMP/logs/bkt-mem.log" "$BKT_SERVE" --listen "127.0.0.1:$P_BKT_MEM" --mem
PID_BKT_MEM=$LAST_PID
wait_listening "$P_BKT_MEM" "$PID_BKT_MEM"

# ---- measuring ----------------------------------------------------------------
declare -A SECONDS_OF   # key -> median seconds
declare -A RUNS_OF      # key -> every run's seconds
declare -A HWM_OF       # key -> bkt-serve VmHWM in KiB over the key's runs
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || log "cannot reset VmHWM of $1 (kernel < 4.0?)"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# job KEY AFTER PID CMD...: registers a measurement of CMD (wall clock).
# AFTER (a shell function name, or :) runs after each run, untimed. PID (or
# -) is a bkt-serve whose peak RSS is reset before each run and read after.
JOB_KEYS=()
declare -A JOB_AFTER JOB_PID JOB_CMD
job() {
    local key=$1
    JOB_KEYS+=("$key")
    JOB_AFTER[$key]=$2
    JOB_PID[$key]=$3
    shift 3
    JOB_CMD[$key]=$(printf '%q ' "$@")
}
# run_jobs: RUNS rounds; each round runs every job once, in order. The
# servers are measured in turn rather than in series, so each round's
# figures share the disk's and the VM's state of that minute, and a
# round's ratios compare like with like.
run_jobs() {
    local i key pid t0 t1 peak
    for ((i = 1; i <= RUNS; i++)); do
        log "  round $i of $RUNS"
        for key in "${JOB_KEYS[@]}"; do
            pid=${JOB_PID[$key]}
            if [[ $pid != - ]]; then reset_hwm "$pid"; fi
            t0=$(now_ns)
            eval "${JOB_CMD[$key]}" >>"$TMP/logs/clients.log" 2>&1 ||
                die "$key failed: ${JOB_CMD[$key]}(see $TMP/logs)"
            t1=$(now_ns)
            RUNS_OF[$key]+="$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.4f", ns / 1e9}') "
            if [[ $pid != - ]]; then
                peak=$(hwm_kib "$pid")
                if ((peak > ${HWM_OF[$key]:-0})); then HWM_OF[$key]=$peak; fi
            fi
            "${JOB_AFTER[$key]}"
        done
    done
    for key in "${JOB_KEYS[@]}"; do
        SECONDS_OF[$key]=$(median <<<"${RUNS_OF[$key]}")
        log "  $key: ${RUNS_OF[$key]}s"
    done
}

# The peers' clients, checked for the status they must return.
curl_get() { # url
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$1")
    [[ $code == 200 || $code == 226 ]] || { log "curl GET $1: $code"; return 1; }
}
curl_put() { # url
    local code size
    read -r code size < <(curl -sS -o /dev/null -w '%{http_code} %{size_upload}\n' -H 'Expect:' -T "$SRC" "$1")
    [[ ($code == 201 || $code == 204 || $code == 226) && $size == "$BYTES" ]] ||
        { log "curl PUT $1: status $code, $size bytes"; return 1; }
}
put_and_fsync() { curl_put "$1" && sync "$2"; }
drop_nginx_upload() { rm -f "$TMP/www/up.bin"; sync; }
drop_ftp_upload() { rm -f "$TMP/ftp/pub/up.bin"; sync; }
# iperf3 is timed by itself: the receiver's seconds for BYTES bytes, without
# its control connection's setup.
measure_iperf() {
    local i all=""
    for ((i = 0; i < RUNS; i++)); do
        "$IPERF3" -c 127.0.0.1 -p "$P_IPERF" -n "$BYTES" -J >"$TMP/iperf.json" ||
            die "iperf3 failed (see $TMP/iperf.json)"
        all+="$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]["sum_received"]; print("%.4f" % (e["seconds"] * int(sys.argv[2]) / e["bytes"]))' "$TMP/iperf.json" "$BYTES") "
    done
    RUNS_OF[iperf3]=$all
    SECONDS_OF[iperf3]=$(median <<<"$all")
    log "  iperf3: $all s"
}

log "measuring, $RUNS runs each"
measure_iperf
# The disk's own ceiling for durable writes of the file: through the page
# cache then fsync (what a buffered upload must wait for), and O_DIRECT in
# 4 MiB writes (what FsStore's direct staging does).
dd_to() { dd if="$SRC" of="$TMP/data/dd.bin" bs=4M "$@" status=none; }
drop_dd() { rm -f "$TMP/data/dd.bin"; sync; }
job dd_buffered drop_dd - dd_to conv=fsync
job dd_direct drop_dd - dd_to oflag=direct conv=fsync

NGINX_URL="http://127.0.0.1:$P_NGINX"
FTP_URL="ftp://127.0.0.1:$P_FTP/pub"
job nginx_get : - curl_get "$NGINX_URL/file.bin"
job vsftpd_retr : - curl_get "$FTP_URL/file.bin"
job nginx_put drop_nginx_upload - curl_put "$NGINX_URL/up.bin"
job vsftpd_stor drop_ftp_upload - curl_put "$FTP_URL/up.bin"
job nginx_put_fsync drop_nginx_upload - put_and_fsync "$NGINX_URL/up.bin" "$TMP/www/up.bin"
job vsftpd_stor_fsync drop_ftp_upload - put_and_fsync "$FTP_URL/up.bin" "$TMP/ftp/pub/up.bin"

bkt() { "$BKT_TRANSFER" --server "127.0.0.1:$1" "${@:2}"; }
# FsStore uploads go to a new name and are deleted between runs, as the
# peers' are; its downloads read the source file (a hard link, in the page
# cache like the peers' file.bin). MemStore's download reads the file its
# upload of the same round stored.
drop_fs_upload() { rm -f "$TMP/bkt-fs/bench/up.bin"; sync; }
job bkt_fs_upload drop_fs_upload "$PID_BKT_FS" bkt "$P_BKT_FS" upload "$SRC" bench up.bin
job bkt_fs_download : "$PID_BKT_FS" bkt "$P_BKT_FS" download bench file.bin
drop_buf_upload() { rm -f "$TMP/bkt-buf/bench/up.bin"; sync; }
job bkt_fs_buffered_upload drop_buf_upload - bkt "$P_BKT_BUF" upload "$SRC" bench up.bin
job bkt_mem_upload : "$PID_BKT_MEM" bkt "$P_BKT_MEM" upload "$SRC" bench file.bin
job bkt_mem_download : "$PID_BKT_MEM" bkt "$P_BKT_MEM" download bench file.bin
run_jobs
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- table ------------------------------------------------------------------------
mbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN {printf "%.1f", b / s / 1e6}'; }
best_of() { # keys...: the highest MB/s among them
    local k best=0 v
    for k in "$@"; do
        v=$(mbps "${SECONDS_OF[$k]}")
        best=$(awk -v a="$best" -v b="$v" 'BEGIN {print (b > a) ? b : a}')
    done
    echo "$best"
}
BEST_DOWN=$(best_of nginx_get vsftpd_retr)
BEST_UP=$(best_of nginx_put vsftpd_stor)
BEST_UP_FSYNC=$(best_of nginx_put_fsync vsftpd_stor_fsync)
row() { # direction label client key best
    local v ratio runs
    v=$(mbps "${SECONDS_OF[$4]}")
    if [[ $5 == - ]]; then
        ratio="-"
    else
        ratio=$(awk -v v="$v" -v b="$5" 'BEGIN {printf "%.2fx", v / b}')
    fi
    runs=${RUNS_OF[$4]}
    printf '%-9s %-40s %-13s %8s %9s %8s   %s\n' "$1" "$2" "$3" "${SECONDS_OF[$4]}" "$v" "$ratio" "${runs% }"
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

echo "== $SIZE_MIB MiB over 127.0.0.1, median wall time of $RUNS rounds (MB/s = 10^6 bytes/s) =="
echo "machine: $(nproc) cores, $(uname -r); load average $LOAD_START at start, $LOAD_END at end"
HALTPOLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
if [[ -r $HALTPOLL ]]; then echo "cpuidle: guest_halt_poll_ns=$(cat "$HALTPOLL") (0: idle vCPUs halt at once)"; fi
echo "files: $TMP ($FS_DESC); sources and downloads come from the page cache"
echo "versions: $("$NGINX" -v 2>&1 | sed 's/.*: //'), vsftpd $(dpkg-query -W -f='${Version}' vsftpd 2>/dev/null || echo '?'), $("$IPERF3" -v | head -1 | cut -d' ' -f1-2), $(curl -V | head -1 | cut -d' ' -f1-2)"
echo
printf '%-9s %-40s %-13s %8s %9s %8s   %s\n' direction server client seconds MB/s vs-best "runs (s)"
row ceiling "iperf3 single stream" iperf3 iperf3 -
row disk "dd, page cache then fsync" dd dd_buffered -
row disk "dd, O_DIRECT 4 MiB writes, fsync" dd dd_direct -
row download "nginx GET (sendfile on)" curl nginx_get "$BEST_DOWN"
row download "vsftpd RETR (passive, sendfile)" curl vsftpd_retr "$BEST_DOWN"
row download "bucket-server DOWNLOAD, FsStore" bkt-transfer bkt_fs_download "$BEST_DOWN"
row download "bucket-server DOWNLOAD, MemStore" bkt-transfer bkt_mem_download "$BEST_DOWN"
row upload "nginx PUT (dav, no fsync)" curl nginx_put "$BEST_UP"
row upload "vsftpd STOR (no fsync)" curl vsftpd_stor "$BEST_UP"
row upload "bucket-server UPLOAD, FsStore (fsync)" bkt-transfer bkt_fs_upload "$BEST_UP"
row upload "  same, --no-direct-io (buffered, fsync)" bkt-transfer bkt_fs_buffered_upload "$BEST_UP"
row upload "bucket-server UPLOAD, MemStore" bkt-transfer bkt_mem_upload "$BEST_UP"
row upload+fs "nginx PUT, then fsync(file)" curl+sync nginx_put_fsync "$BEST_UP_FSYNC"
row upload+fs "vsftpd STOR, then fsync(file)" curl+sync vsftpd_stor_fsync "$BEST_UP_FSYNC"
row upload+fs "bucket-server UPLOAD, FsStore (fsync)" bkt-transfer bkt_fs_upload "$BEST_UP_FSYNC"
echo
ratio_to() { awk -v a="$(mbps "${SECONDS_OF[$1]}")" -v b="$(mbps "${SECONDS_OF[$2]}")" 'BEGIN {printf "%.2fx", a / b}'; }
echo "bucket-server UPLOAD into FsStore (fsync included) = $(ratio_to bkt_fs_upload vsftpd_stor) vsftpd STOR (no fsync),"
echo "  $(ratio_to bkt_fs_upload vsftpd_stor_fsync) vsftpd STOR + fsync; $(ratio_to bkt_fs_upload dd_direct) of the disk's O_DIRECT ceiling (dd)."
per_round() { # a b: b's seconds over a's, round by round (a's speed over b's)
    paste -d' ' <(tr ' ' '\n' <<<"${RUNS_OF[$1]}" | grep .) <(tr ' ' '\n' <<<"${RUNS_OF[$2]}" | grep .) |
        awk '{printf "%.2f ", $2 / $1}'
}
ROUND_RATIOS=$(per_round bkt_fs_upload vsftpd_stor)
echo "  Round by round (the same round's runs): $ROUND_RATIOS x vsftpd STOR,"
echo "  median $(median <<<"$ROUND_RATIOS")x; against dd O_DIRECT: $(per_round bkt_fs_upload dd_direct)"
echo
echo "bkt-serve peak RSS (VmHWM, reset before each run; the highest of the $RUNS runs):"
echo "  FsStore:  upload $(mib "${HWM_OF[bkt_fs_upload]}"), download $(mib "${HWM_OF[bkt_fs_download]}")"
echo "  MemStore: upload $(mib "${HWM_OF[bkt_mem_upload]}"), download $(mib "${HWM_OF[bkt_mem_download]}") (the files live in this process)"
echo
echo "notes:"
echo "- vs-best: MB/s over the best peer of the same direction (downloads: nginx GET, vsftpd RETR;"
echo "  uploads: nginx PUT, vsftpd STOR; upload+fs rows: the peers' upload followed by fsync of the file)."
echo "- bucket-server's FsStore fsyncs every upload (file, then bucket folder) before '700 FUBS';"
echo "  nginx and vsftpd reply before the bytes reach the disk. The upload+fs rows add an fsync of the"
echo "  uploaded file to the peers' time, and MemStore shows bucket-server with no disk at all."
echo "- Wall time per client process (connect, request, whole payload, final reply; a few ms of"
echo "  process start-up); iperf3: its receiver's own time. Client and server share the $(nproc) cores."
echo "- Clients differ: curl reads and writes with its own buffer sizes, bkt-transfer (bucket-client)"
echo "  with 256 KiB. nginx: client_body_buffer_size 256k, sendfile on, access log off."
echo "- Uploaded files are deleted and the page cache flushed (sync) between runs, untimed."
echo "- Rounds: every row is measured once per round, in table order (iperf3 first, on its own),"
echo "  so a round's figures come from the same minute; the median is over rounds."
echo "- disk rows: dd copies the source file (from the page cache) to a new file on the same"
echo "  filesystem and fsyncs it: no upload can be durable faster than the better of the two."
echo "- FsStore stages uploads of 1 MiB and more with O_DIRECT by default; the --no-direct-io row"
echo "  is the same server staging through the page cache."
