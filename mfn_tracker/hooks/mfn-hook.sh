#!/bin/sh
# mfn-tracker git hook -- fingerprint: mfn-tracker-hook v1
# Records this git event for the audit trail (detached: git does not wait), then runs the hook
# that was here before, if any, exactly as git would have. Installed by `mfn-tracker hooks
# install`; `mfn-tracker hooks uninstall` puts the previous hook back. Do not edit.
mfn_hook=@HOOK@
mfn_py=@PYTHON@
mfn_storage=@STORAGE@
mfn_boot=@BOOT@
mfn_orig="${0%/*}/$mfn_hook.mfn-orig"
mfn_guard="$mfn_hook:$PWD"

# Reached again through another tool's chain (our shim -> tool -> our older copy): the outer
# shim records and runs <hook>.mfn-orig; doing either again would double it or loop.
[ "${MFN_TRACKER_HOOK-}" = "$mfn_guard" ] && exit 0
mfn_rec=1
case $mfn_hook in
reference-transaction) [ "$1" = committed ] || mfn_rec= ;;
esac
[ -f "$mfn_orig" ] && [ -x "$mfn_orig" ] || mfn_orig=
[ -n "$mfn_rec$mfn_orig" ] || exit 0

# Hooks that get stdin: read it once (shell builtins only), hand a copy to each consumer.
mfn_in=
mfn_stdin=
case $mfn_hook in
pre-push | post-rewrite | reference-transaction)
    mfn_stdin=1
    mfn_n=0
    while [ $mfn_n -lt 8 ] && IFS= read -r mfn_l; do
        mfn_in="$mfn_in$mfn_l
"
        mfn_n=$((mfn_n + 1))
    done
    if [ $mfn_n -eq 8 ]; then # a big fetch or push: let cat take the rest in one go
        mfn_l=$(cat)
        [ -z "$mfn_l" ] || mfn_in="$mfn_in$mfn_l
"
    fi
    ;;
esac

mfn_chain() {
    # Run the previous hook with our args and stdin; sh scripts keep their $0 (husky needs it).
    MFN_TRACKER_HOOK=$mfn_guard
    export MFN_TRACKER_HOOK
    mfn_first=
    IFS= read -r mfn_first <"$mfn_orig" 2>/dev/null
    case $mfn_first in
    '#!/bin/sh' | '#!/usr/bin/env sh') set -- /bin/sh -c 'mfn_f=$1; shift; . "$mfn_f"' "$0" "$mfn_orig" "$@" ;;
    *) set -- "$mfn_orig" "$@" ;;
    esac
    if [ -z "$mfn_stdin" ]; then
        "$@"
    elif [ -n "$mfn_in" ]; then
        printf '%s' "$mfn_in" | "$@"
    else
        "$@" </dev/null
    fi
}

mfn_fail() {
    # Keep the error where `mfn-tracker hooks status` finds it; never disturb git.
    mfn_gd=$(git rev-parse --git-common-dir 2>/dev/null) &&
        printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$mfn_hook" "$1" >"$mfn_gd/mfn-tracker-last-error"
}

mfn_head() {
    # HEAD's sha and branch from the files a commit just wrote: no git process on the hot path.
    mfn_gd=${GIT_DIR:-.git}
    if [ -f "$mfn_gd" ]; then
        IFS= read -r mfn_l <"$mfn_gd" || return 1
        mfn_gd=${mfn_l#gitdir: }
    fi
    IFS= read -r mfn_l <"$mfn_gd/HEAD" || return 1
    case $mfn_l in
    "ref: refs/heads/"*) mfn_ref=${mfn_l#ref: } ;;
    *) return 1 ;;
    esac
    mfn_cd=$mfn_gd
    if [ -f "$mfn_gd/commondir" ]; then
        IFS= read -r mfn_l <"$mfn_gd/commondir" || return 1
        case $mfn_l in /*) mfn_cd=$mfn_l ;; *) mfn_cd=$mfn_gd/$mfn_l ;; esac
    fi
    IFS= read -r mfn_l <"$mfn_cd/$mfn_ref" || return 1
    case $mfn_l in *[!0-9a-f]* | "") return 1 ;; esac
    mfn_extra="$mfn_l
${mfn_ref#refs/heads/}"
}

mfn_git_pid() {
    # The git process that runs this hook: the nearest git ancestor (pre-commit's chain puts a
    # python between), else our parent. Builtins only; git is usually the parent.
    mfn_git=$PPID
    mfn_p=$PPID
    mfn_n=0
    while [ $mfn_n -lt 6 ] && IFS= read -r mfn_l <"/proc/$mfn_p/comm"; do
        case $mfn_l in git | git-*) mfn_git=$mfn_p && break ;; esac # git-receive-pack too
        IFS= read -r mfn_l <"/proc/$mfn_p/stat" || break
        mfn_l=${mfn_l##*) }
        mfn_l=${mfn_l#* }
        mfn_p=${mfn_l%% *}
        case $mfn_p in '' | *[!0-9]* | 0 | 1) break ;; esac
        mfn_n=$((mfn_n + 1))
    done
    # Its start time (clock ticks since boot): a reader tells it from a later process that
    # got the same pid.
    mfn_start=
    IFS= read -r mfn_l <"/proc/$mfn_git/stat" && mfn_field22 ${mfn_l##*) }
}

mfn_field22() {
    [ $# -ge 20 ] && shift 19 && mfn_start=$1
}

mfn_env() {
    # The git command's own repository and action, for whichever recorder writes this marker
    # (it may be another command's, with another environment: a GUI's GIT_DIR, a submodule).
    mfn_e="mfn-env"
    for mfn_v in GIT_DIR GIT_WORK_TREE GIT_COMMON_DIR; do
        eval "mfn_l=\${$mfn_v-}"
        case $mfn_l in '' | /*) ;; *) mfn_l=$PWD/$mfn_l ;; esac
        [ -z "$mfn_l" ] || mfn_e="$mfn_e
$mfn_v=$mfn_l"
    done
    [ -z "${GIT_REFLOG_ACTION-}" ] || mfn_e="$mfn_e
GIT_REFLOG_ACTION=$GIT_REFLOG_ACTION"
}

mfn_bare() {
    # Is this hook's repository bare? git sets GIT_DIR for hooks there; a work tree's commits
    # usually run without it, so they pay nothing. Builtins only.
    [ -n "${GIT_DIR-}" ] && [ -f "$GIT_DIR/config" ] || return 1
    while IFS= read -r mfn_l; do
        case $mfn_l in *bare*=*true*) return 0 ;; esac
    done <"$GIT_DIR/config"
    return 1
}

mfn_record() {
    mfn_extra=
    case $mfn_hook in
    post-commit | post-applypatch) mfn_head 2>/dev/null || mfn_extra=$(git rev-parse HEAD --abbrev-ref HEAD 2>/dev/null) ;;
    post-merge) mfn_extra=$(git rev-parse HEAD ORIG_HEAD --abbrev-ref HEAD 2>/dev/null) ;;
    pre-push) mfn_extra=$mfn_status ;; # the previous pre-push hook's verdict
    esac
    case "$mfn_hook:$1:$mfn_in" in
    reference-transaction:*:*" refs/remotes/"* | post-checkout:0000000000000000000000000000000000000000*) ;;
    reference-transaction:*:*" refs/heads/"* | reference-transaction:*:*" refs/tags/"*)
        mfn_bare || return 0 ;; # a bare clone, a mirror's fetch: no remote-tracking refs there
    reference-transaction:* | post-checkout:*) return 0 ;; # local refs, branch switches: noise
    esac
    case "$mfn_hook:$1" in
    post-merge:1) mfn_extra="$mfn_extra
mfn-files
$(git -c core.quotePath=false diff --cached --name-only 2>/dev/null)" ;;
    post-rewrite:*) mfn_extra=$(git rev-parse --abbrev-ref HEAD 2>/dev/null) ;;
    esac
    mfn_env
    mfn_extra="$mfn_extra
$mfn_e"
    [ -x "$mfn_py" ] || { mfn_fail "interpreter $mfn_py is missing: reinstall the hooks"; return 0; }
    mfn_dir="$mfn_storage/.pending"
    [ -d "$mfn_dir" ] || mkdir -m 700 "$mfn_storage" "$mfn_dir" 2>/dev/null
    # One recorder per git command: later hooks of the same git process only add a marker.
    mfn_git_pid
    [ -z "$mfn_start" ] || mfn_extra="$mfn_extra
MFN_GIT_START=$mfn_start"
    mfn_lead=
    if [ ! -e "$mfn_dir/$mfn_git.lead" ]; then
        mfn_lead=1
        printf "" >"$mfn_dir/$mfn_git.lead"
    fi
    case $mfn_lead:$mfn_hook in
    1:post-commit | 1:post-applypatch | 1:post-rewrite | :*) ;;
    *)
        # Which git command this is (push, fetch, clone, gc...): its argv, one per line (a
        # newline inside an argument, as in `merge -m "a<LF>b"`, becomes \037).
        mfn_extra="$mfn_extra
mfn-cmdline
$(tr '\n\0' '\037\n' </proc/$mfn_git/cmdline 2>/dev/null)"
        ;;
    esac
    mfn_m="$mfn_dir/$mfn_git.$$.$mfn_hook"
    if {
        printf 'mfn1\0%s\0%s\0%s\0' "$PWD" "$mfn_extra" "$#" &&
            { [ $# -eq 0 ] || printf '%s\0' "$@"; } &&
            printf '%s\0' "$mfn_in"
    } >"$mfn_m"; then
        [ -n "$mfn_lead" ] || return 0
        @ENV@ "$mfn_py" -I -S -c "$mfn_boot" marker "$mfn_m" </dev/null >/dev/null 2>&1 &
        printf '%s\0' "$!" >>"$mfn_m" || mfn_fail "cannot complete marker $mfn_m"
    else
        # No marker (storage unwritable or full): record directly; the recorder keeps the error.
        rm -f "$mfn_m" "$mfn_dir/$mfn_git.lead"
        printf '%s' "$mfn_in" | @ENV@ "$mfn_py" -I -S -c "$mfn_boot" direct "$mfn_m" "$PWD" "$mfn_extra" "$@" >/dev/null 2>&1 &
    fi
}

mfn_status=0
if [ "$mfn_hook" = pre-push ]; then
    # The previous hook decides the push; we record the attempt with its verdict.
    [ -n "$mfn_orig" ] && { mfn_chain "$@"; mfn_status=$?; }
    [ -n "$mfn_rec" ] && mfn_record "$@" 2>/dev/null
else
    [ -n "$mfn_rec" ] && mfn_record "$@" 2>/dev/null
    [ -n "$mfn_orig" ] && { mfn_chain "$@"; mfn_status=$?; }
fi
exit $mfn_status
