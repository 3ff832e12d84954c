#!/bin/sh
# One-time set-up that `deno task demo` and `deno task test` run first (idempotent, quiet when all is there):
#   sh scripts/setup.sh demo   what the demo needs: a Vulkan driver only;
#   sh scripts/setup.sh test   what the tests need (the default): also chromium, slurm-wlm and munge.
# - A Vulkan driver, so Deno's WebGPU gets a real adapter: with no GPU, Mesa's lavapipe (CPU) from Debian's
#   mesa-vulkan-drivers; without any Vulkan driver Deno falls back to an OpenGL adapter that engram does not use.
# - Debian's chromium, which the report test uses to render report.html headless.
# - Debian's slurm-wlm and munge (without recommends: the plugins it needs are in slurm-wlm-basic-plugins), for
#   tests/slurm_test.ts, which starts a one-node Slurm cluster of its own (no system service is configured).
# The test set is ~200 packages; the demo never waits for them (nor fails when they cannot be installed).
set=${1:-test}
case "$set" in
  demo | test) ;;
  *)
    echo "setup: unknown set \"$set\"; give demo (a Vulkan driver) or test (also chromium, slurm-wlm, munge)" >&2
    exit 2
    ;;
esac
need=""
icd=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null)
if [ -z "$icd" ] || ! (ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'); then
  need="$need mesa-vulkan-drivers libvulkan1"
fi
slurm=""
if [ "$set" = test ]; then
  command -v chromium >/dev/null 2>&1 || need="$need chromium"
  for tool in munged slurmctld slurmd sbatch; do
    command -v $tool >/dev/null 2>&1 || [ -x /usr/sbin/$tool ] || slurm=" slurm-wlm munge"
  done
fi
[ -z "$need$slurm" ] && exit 0
# The commands, as run and as suggested when they fail (apt waits up to 5 minutes for another apt's lock).
lock="-o DPkg::Lock::Timeout=300"
install="apt-get install -y -qq $lock"
cmd="apt-get update -qq $lock"
[ -z "$need" ] || cmd="$cmd && $install$need"
[ -z "$slurm" ] || cmd="$cmd && $install --no-install-recommends$slurm"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup ($set): missing$need$slurm; install them (as root: $cmd) or a GPU driver with Vulkan" >&2
  exit 0
fi
echo "setup ($set): installing$need$slurm (Debian packages): $cmd" >&2
log=$(mktemp "${TMPDIR:-/tmp}/engram-setup.XXXXXX") || exit 1
if DEBIAN_FRONTEND=noninteractive sh -c "$cmd" >"$log" 2>&1; then
  rm -f "$log"
  exit 0
fi
# apt's own words say why (another process holding the dpkg lock, a package not found, no network).
echo "setup ($set): could not install$need$slurm; apt-get's last lines (all of them in $log):" >&2
tail -n 8 "$log" | sed 's/^/  /' >&2
echo "setup ($set): fix that, then run as root: $cmd" >&2
exit 1
