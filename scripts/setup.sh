#!/bin/sh
# One-time set-up that `deno task test` and `deno task demo` run first (idempotent, quiet when all is there):
# - a Vulkan driver, so Deno's WebGPU gets a real adapter: with no GPU, Mesa's lavapipe (CPU) from Debian's
#   mesa-vulkan-drivers; without any Vulkan driver Deno falls back to an OpenGL adapter that engram does not use;
# - Debian's chromium, which the report test uses to render report.html headless;
# - Debian's slurm-wlm and munge (without recommends: the plugins it needs are in slurm-wlm-basic-plugins), for
#   tests/slurm_test.ts, which starts a one-node Slurm cluster of its own (no system service is configured).
need=""
icd=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null)
if [ -z "$icd" ] || ! (ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'); then
  need="$need mesa-vulkan-drivers libvulkan1"
fi
command -v chromium >/dev/null 2>&1 || need="$need chromium"
slurm=""
for tool in munged slurmctld slurmd sbatch; do
  command -v $tool >/dev/null 2>&1 || [ -x /usr/sbin/$tool ] || slurm="slurm-wlm munge"
done
[ -z "$need$slurm" ] && exit 0
all="$need${slurm:+ $slurm}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing$all (Debian packages)" >&2
  (
    apt-get update -qq &&
      { [ -z "$need" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need; } &&
      { [ -z "$slurm" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $slurm; }
  ) >/dev/null 2>&1 || {
    echo "setup: could not install$all; install them yourself (apt-get install$all)" >&2
    exit 1
  }
else
  echo "setup: missing$all; install them (as root: apt-get install$all) or a GPU driver with Vulkan" >&2
fi
exit 0
