"""An independent reader of the host for tests/e2e_hostmetrics.rs: psutil and os, never weir.

Usage: read_host.py <pid>. Prints one JSON object: the wall time of the read, per-CPU times (s),
the memory total, statvfs of `/`, the byte counters of `lo`, and the RSS of <pid> as psutil
reads it and as /proc/<pid>/status states it.
"""

import json
import os
import sys
import time

import psutil

pid = int(sys.argv[1])
before = time.time()
cpus = [t._asdict() for t in psutil.cpu_times(percpu=True)]
vm = psutil.virtual_memory()
st = os.statvfs("/")
lo = psutil.net_io_counters(pernic=True)["lo"]._asdict()
rss = psutil.Process(pid).memory_info().rss
status_rss = None
with open(f"/proc/{pid}/status") as f:
    for line in f:
        if line.startswith("VmRSS:"):
            status_rss = int(line.split()[1]) * 1024
print(
    json.dumps(
        {
            "time_before": before,
            "time_after": time.time(),
            "cpus": cpus,
            "boot_time": psutil.boot_time(),
            "mem_total": vm.total,
            "statvfs_root": {
                "frsize": st.f_frsize,
                "blocks": st.f_blocks,
                "bfree": st.f_bfree,
                "bavail": st.f_bavail,
                "files": st.f_files,
                "ffree": st.f_ffree,
            },
            "lo": lo,
            "rss": rss,
            "status_rss": status_rss,
        }
    )
)
