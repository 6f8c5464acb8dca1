"""What a DPDK process leaves behind by its EAL file prefix, for benches/e2e and
benches/ovs.py: its runtime directory and its hugepage files (a killed EAL, or one without
--huge-unlink, leaves them)."""
import os
import shutil


def remove_files(prefix):
    """Removes /var/run/dpdk/PREFIX and the /dev/hugepages files of `prefix`."""
    shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    for f in os.listdir("/dev/hugepages") if os.path.isdir("/dev/hugepages") else []:
        if f.startswith(prefix):
            try:
                os.unlink(os.path.join("/dev/hugepages", f))
            except OSError:
                pass
