# Shared set-up of the bench scripts (sourced, not run): a work directory, and the user
# the measured commands run as. Run as a normal user, everything runs as you; run as
# root, every measured command drops to BURROW_TEST_USER (default burrow-test), because
# rootless is what is measured.
#
#   bench_work NAME     → $work (mktemp, 0755, owned by the user), $user, as_user=(…)
#                         (as root: the user's HOME is $work/home)
#   bench_install       → $work/burrow, a copy of the release binary the user cannot write
#   bench_runtime_dir   → XDG_RUNTIME_DIR=$work/xdg (0700, the user's), exported

bench_work() {
  work=$(mktemp -d "/tmp/burrow-bench-$1.XXXXXX")
  chmod 755 "$work"
  as_user=()
  user=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    user=${BURROW_TEST_USER:-burrow-test}
    chown "$user" "$work"
    mkdir -p "$work/home"
    chown "$user" "$work/home"
    as_user=(setpriv --reuid "$user" --regid "$user" --init-groups -- env HOME="$work/home")
  fi
}

bench_install() {
  install -m 0755 "${CARGO_TARGET_DIR:-target}/release/burrow" "$work/burrow"
}

bench_runtime_dir() {
  export XDG_RUNTIME_DIR="$work/xdg"
  "${as_user[@]}" mkdir -p "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
}
