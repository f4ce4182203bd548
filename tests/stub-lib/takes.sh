# shellcheck shell=bash
# `takes KEY`: sleeps as long as STUB_SECONDS says the stubbed program takes
# for KEY ("dnf=0.3,gitlab-pull=0.9,..."), so scripts/bench can run the
# bootstrap at a scale of real durations. Without STUB_SECONDS: no wait.
takes() {
  local pair
  for pair in ${STUB_SECONDS//,/ }; do
    if [[ "${pair%%=*}" == "$1" ]]; then
      /usr/bin/sleep "${pair#*=}"
    fi
  done
  return 0
}
STUB_SECONDS="${STUB_SECONDS:-}"
