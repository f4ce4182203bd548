# shellcheck shell=bash
# `takes KEY`: sleeps as long as STUB_SECONDS says the stubbed program takes
# for KEY ("dnf=0.3,gitlab-pull=0.9,..."), so scripts/bench can run the
# bootstrap at a scale of real durations. Without STUB_SECONDS: no wait.
STUB_SECONDS="${STUB_SECONDS:-}"

# `seconds KEY`: KEY's seconds in STUB_SECONDS, or nothing.
seconds() {
  local pair
  for pair in ${STUB_SECONDS//,/ }; do
    if [[ "${pair%%=*}" == "$1" ]]; then
      printf '%s\n' "${pair#*=}"
    fi
  done
}

takes() {
  local s
  s="$(seconds "$1")"
  if [[ -n "$s" ]]; then
    /usr/bin/sleep "$s"
  fi
  return 0
}
