#!/usr/bin/env bash
# Real systemd test of the watcher's system unit (`make test-systemd`, as root; CI runs it).
#
# Boots a throw-away Debian rootfs under systemd-nspawn (real systemd as the container's PID 1,
# host PID 1 need not be systemd), makes the checkout importable by the container's python3
# (a .pth file, like a system-wide `pip install -e`), runs `mfn-tracker service install --system`
# inside, and checks: activating -> active only after READY=1 (the startup scan is done and
# system_start written), a file change inside the container becomes an event, SIGKILL ->
# Restart=on-failure (and the change made while it was down is recorded by the startup scan),
# WATCHDOG=1 pings (and a restart when the daemon hangs), `systemctl stop` -> Result=success
# with every burst file recorded and system_stop last, and a signed checkpoint written by the
# sandboxed daemon after 1,000 events (its config directory is writable under ProtectSystem).
# Knobs: WORK (cache dir, default /var/tmp/mfn-nspawn), KEEP=1 (leave the container running).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/var/tmp/mfn-nspawn}; SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=systemd,systemd-sysv,dbus,python3,git,procps
ROOTFS=$WORK/rootfs; RUN=$WORK/run-$$; NAME=mfnwatch-$$; CG=mfnwatch-$$
SRC=/opt/mfn-tracker                     # where the checkout appears inside the container
EVENTS=/var/log/mfn/events               # the system unit's storage
TREE=/srv/tree                           # the watched repository inside the container
UNIT="mfn-tracker-watch@srv-tree.service"
T0=$EPOCHREALTIME

ok()   { echo "PASS: $*"; }
die()  { echo "FAIL: $*" >&2; if [ -n "${LEADER:-}" ]; then C journalctl -u "$UNIT" --no-pager -n 40 >&2 || true; fi; exit 1; }
wait_for() { local t=$1; shift; local end=$(( $(date +%s) + t )); until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.1; done; }
[ "$(id -u)" = 0 ] || die "run as root (systemd-nspawn)"

echo "=== host packages"
if ! command -v systemd-nspawn >/dev/null || ! command -v mmdebstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  V=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)   # keep the host's systemd as is
  apt-get install -y -qq --no-install-recommends "systemd-container${V:+=$V}" mmdebstrap >/dev/null \
    || apt-get install -y -qq --no-install-recommends systemd-container mmdebstrap >/dev/null
fi

echo "=== rootfs (cached in $ROOTFS)"
mkdir -p "$WORK"
exec 9>"$WORK/.lock"; flock 9
if [ ! -e "$ROOTFS/.complete" ] || [ "$(cat "$ROOTFS/.complete")" != "$SUITE $PACKAGES" ]; then
  rm -rf "$ROOTFS.tmp"
  mmdebstrap --variant=minbase --mode=root --include="$PACKAGES" "$SUITE" "$ROOTFS.tmp" "$MIRROR" \
    >"$WORK/mmdebstrap.log" 2>&1 || { tail "$WORK/mmdebstrap.log"; die "mmdebstrap"; }
  echo "$SUITE $PACKAGES" >"$ROOTFS.tmp/.complete"; rm -rf "$ROOTFS"; mv "$ROOTFS.tmp" "$ROOTFS"
fi
flock -u 9
SITE=$(ls -d "$REPO"/.venv/lib/python3*/site-packages 2>/dev/null | head -1)
[ -n "$SITE" ] || die "no $REPO/.venv (run make venv)"
PYV=$(basename "$(dirname "$SITE")")
[ -x "$ROOTFS/usr/bin/$PYV" ] || die "the venv is $PYV but the container has $(ls "$ROOTFS"/usr/bin/python3.* | head -1)"

echo "=== boot container"
mkdir -p "$RUN"
case $(stat -fc %T /sys/fs/cgroup) in
  cgroup2fs) CGH=(/sys/fs/cgroup) ;;
  *) CGH=(/sys/fs/cgroup/systemd); [ -d /sys/fs/cgroup/unified ] && CGH+=(/sys/fs/cgroup/unified) ;;
esac
LEADER=; NSPAWN_PID=
cleanup() {
  set +e
  if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    if [ "${KEEP:-0}" = 1 ]; then echo "KEEP=1: nsenter -t $LEADER -a bash"; return; fi
    [ -n "$LEADER" ] && nsenter -t "$LEADER" -a systemctl poweroff --no-block >/dev/null 2>&1 || kill -TERM "$NSPAWN_PID"
    wait_for 20 bash -c "! kill -0 $NSPAWN_PID 2>/dev/null" || { [ -n "$LEADER" ] && kill -KILL "$LEADER"; kill -KILL "$NSPAWN_PID"; }
    wait "$NSPAWN_PID" 2>/dev/null
  fi
  for h in "${CGH[@]}"; do [ -d "$h/$CG" ] && find "$h/$CG" -depth -type d -exec rmdir {} + 2>/dev/null; done
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for h in "${CGH[@]}"; do mkdir -p "$h/$CG"; done
( for h in "${CGH[@]}"; do echo "$BASHPID" >"$h/$CG/cgroup.procs"; done
  exec systemd-nspawn --boot --directory="$ROOTFS" --volatile=overlay --machine="$NAME" \
       --register=no --keep-unit --private-network --console=passive \
       --bind-ro="$REPO:$SRC" ) >"$RUN/nspawn.log" 2>&1 </dev/null &
NSPAWN_PID=$!
wait_for 20 bash -c "pgrep -P $NSPAWN_PID >/dev/null" || die "container init did not appear"
LEADER=$(pgrep -P "$NSPAWN_PID" | head -1)
C() { nsenter -t "$LEADER" -a -- "$@"; }
booted() { local s; s=$(C systemctl is-system-running --wait 2>/dev/null); [[ $s == running || $s == degraded ]]; }
wait_for 60 booted || { tail -20 "$RUN/nspawn.log"; die "container did not boot"; }
ok "container up"

echo "=== install the project and the unit"
# Like a system-wide editable install: the container's python3 finds the checkout and its deps.
C sh -c "printf '%s\n' $SRC ${SITE/#$REPO/$SRC} >/usr/lib/python3/dist-packages/mfn-tracker.pth"
C python3 -c "import mfn_tracker.watch.daemon, watchdog, pathspec, click" || die "project not importable"
probe() { C python3 "$SRC/tests/systemd/events_probe.py" "$EVENTS" "$@"; }
# A tree big enough that the first scan (hashing every file) takes a visible moment.
C sh -c "mkdir -p $TREE && cd $TREE && git init -q && mkdir -p big && \
  python3 -c \"
for i in range(15000):
    open('big/f%05d.txt' % i, 'w').write('content %d\n' % i * 20)
\" && printf 'a\n' >tracked.txt && printf '*.log\n' >.gitignore && git add . && \
  git -c user.name=t -c user.email=t@e commit -qm init"
C sh -c "cd /root && python3 -m mfn_tracker service install --system --print $TREE" >"$RUN/printed.txt"
grep -q "enable: $UNIT" "$RUN/printed.txt" || die "service install --print: $(head -1 "$RUN/printed.txt")"
C python3 -m mfn_tracker service install --system "$TREE" >"$RUN/install.txt" 2>&1 &
INSTALL=$!

echo "=== Type=notify: active only after READY=1"
SEEN_ACTIVATING=0
state() { C systemctl show -P ActiveState "$UNIT" 2>/dev/null || true; }
for _ in $(seq 1 600); do
  s=$(state)
  [ "$s" = activating ] && SEEN_ACTIVATING=1
  if [ "$s" = active ]; then
    # READY=1 is sent after the startup scan and system_start: both must already be on disk.
    probe count system_start | grep -qx 1 || die "active before system_start was written"
    break
  fi
  [ "$s" = failed ] && die "unit failed to start"
  sleep 0.05
done
[ "$(state)" = active ] || die "not active: $(state)"
wait "$INSTALL" || die "service install failed: $(cat "$RUN/install.txt")"
[ "$SEEN_ACTIVATING" = 1 ] || die "never saw 'activating' (the scan of 15000 files should take a moment)"
STATUS=$(C systemctl show -P StatusText "$UNIT")
[[ $STATUS == watching\ 1\ tree* ]] || die "STATUS= not received: '$STATUS'"
[ "$(C systemctl show -P WatchdogUSec "$UNIT")" = 30s ] || die "WatchdogSec not applied"
V=$(C systemd-analyze verify "/etc/systemd/system/mfn-tracker-watch@.service" 2>&1) || die "verify: $V"
[ -z "$V" ] || die "systemd-analyze verify printed: $V"
PID1=$(C systemctl show -P MainPID "$UNIT")
C grep -q 'NoNewPrivs:[[:space:]]*1' "/proc/$PID1/status" || die "NoNewPrivileges not in effect"
C nsenter -t "$PID1" -m -- sh -c '! touch /usr/.probe 2>/dev/null && ! touch /srv/tree/.probe 2>/dev/null' \
  || die "ProtectSystem=strict not in effect (the tree must be read-only to the daemon)"
ok "activating -> active after READY=1 (system_start on disk), STATUS='$STATUS', verify clean, hardened"

echo "=== a file change inside the container is recorded"
C sh -c "echo hello >$TREE/inside.txt && echo more >>$TREE/tracked.txt && echo x >$TREE/ignored.log"
wait_for 10 bash -c "[ \"\$(nsenter -t $LEADER -a -- python3 $SRC/tests/systemd/events_probe.py $EVENTS files file_create)\" = inside.txt ]" \
  || die "no file_create for inside.txt: $(probe files file_create)"
wait_for 10 bash -c "nsenter -t $LEADER -a -- python3 $SRC/tests/systemd/events_probe.py $EVENTS files file_change | grep -qx tracked.txt" \
  || die "no file_change for tracked.txt"
probe files file_create | grep -q ignored.log && die "an ignored file was recorded"
ok "file_create inside.txt, file_change tracked.txt, ignored.log not recorded"

echo "=== SIGKILL -> Restart=on-failure; changes while down -> startup-scan"
C systemctl kill --kill-who=main --signal=SIGKILL "$UNIT"
C sh -c "rm $TREE/inside.txt"          # made while the daemon is dead (RestartSec=2)
restarted() { [ "$(C systemctl show -P NRestarts "$UNIT")" = 1 ] && [ "$(state)" = active ]; }
wait_for 60 restarted || die "did not restart after SIGKILL (state $(state))"
PID2=$(C systemctl show -P MainPID "$UNIT"); [ "$PID2" != "$PID1" ] || die "same MainPID"
wait_for 10 bash -c "nsenter -t $LEADER -a -- python3 $SRC/tests/systemd/events_probe.py $EVENTS sources file_delete | grep -qx 'inside.txt startup-scan'" \
  || die "delete made while down not recorded: $(probe sources file_delete)"
[ "$(probe count system_start)" = 2 ] || die "expected a second system_start"
ok "restarted (MainPID $PID1 -> $PID2), deletion while down recorded as startup-scan"

echo "=== WATCHDOG=1 pings keep it alive; a hang (SIGSTOP) -> watchdog restart"
C mkdir -p "/etc/systemd/system/$UNIT.d"
C sh -c "printf '[Service]\nWatchdogSec=3\n' >/etc/systemd/system/$UNIT.d/watchdog.conf"
C systemctl daemon-reload
C timeout 60 systemctl restart "$UNIT"
N0=$(C systemctl show -P NRestarts "$UNIT")   # a manual restart resets the counter
sleep 7                                   # more than twice WatchdogSec: alive only if it pings
[ "$(state)" = active ] && [ "$(C systemctl show -P NRestarts "$UNIT")" = "$N0" ] || die "killed by the watchdog while healthy: $(state) NRestarts=$(C systemctl show -P NRestarts "$UNIT")"
C systemctl kill --kill-who=main --signal=SIGSTOP "$UNIT"
watchdogged() { [ "$(C systemctl show -P NRestarts "$UNIT")" = $((N0 + 1)) ] && [ "$(state)" = active ]; }
wait_for 30 watchdogged || die "watchdog did not restart the hung daemon"
C journalctl -u "$UNIT" --no-pager | grep -q 'Watchdog timeout' || die "no watchdog message"
C rm -r "/etc/systemd/system/$UNIT.d"; C systemctl daemon-reload
ok "alive 7 s with WatchdogSec=3 (pings), hung daemon restarted by the watchdog"

echo "=== signed checkpoint under ProtectSystem=strict (due after 1,000 events)"
# The key and the checkpoint store live in MFN_CONFIG_DIR (/etc/mfn-tracker), which must be
# writable to the sandboxed daemon; the first checkpoint is due once the log holds 1,000 events.
C sh -c "mkdir $TREE/burst && cd $TREE/burst && for i in \$(seq 1 1100); do echo \$i >b\$i; done"
wait_for 30 bash -c "[ \"\$(nsenter -t $LEADER -a -- python3 $SRC/tests/systemd/events_probe.py $EVENTS count checkpoint)\" -ge 1 ]" \
  || die "no checkpoint event after 1100 files: $(C journalctl -u "$UNIT" --no-pager -o cat | grep -i checkpoint | tail -3)"
[ "$(C stat -c %a /etc/mfn-tracker)" = 700 ] || die "/etc/mfn-tracker mode $(C stat -c %a /etc/mfn-tracker)"
C test -s /etc/mfn-tracker/checkpoint.key || die "no /etc/mfn-tracker/checkpoint.key"
[ "$(C stat -c %a /etc/mfn-tracker/checkpoint.key)" = 600 ] || die "checkpoint.key is not 0600"
C test -s /etc/mfn-tracker/checkpoints.jsonl || die "no /etc/mfn-tracker/checkpoints.jsonl"
C journalctl -u "$UNIT" --no-pager -o cat | grep -q 'checkpoint not made' && die "the daemon logged: checkpoint not made"
ok "checkpoint event written, key 0600 in /etc/mfn-tracker (0700)"

echo "=== systemctl stop -> system_stop, nothing lost"
C timeout 60 systemctl stop "$UNIT"
[ "$(state)" = inactive ] || die "not inactive after stop: $(state)"
[ "$(C systemctl show -P Result "$UNIT")" = success ] || die "Result != success"
[ "$(probe last)" = system_stop ] || die "last event is $(probe last)"
N=$(probe files file_create | grep -c '^burst/' || true)
[ "$N" = 1100 ] || die "burst before stop: $N of 1100 recorded"
probe chain || die "hash chain broken"
ok "inactive, Result=success, 1100/1100 burst files recorded, system_stop last, chain intact"

C journalctl -u "$UNIT" --no-pager -o cat | tail -8
cleanup; NSPAWN_PID=; trap - EXIT
printf 'TOTAL %.1fs\nALL SYSTEMD CHECKS PASSED\n' "$(awk "BEGIN{print $EPOCHREALTIME-$T0}")"
