"""Knot DNS (Debian's knotd) on a free 127.0.0.1 port for the Python
integration tests, through knot.sh (its zones are described there)."""
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class KnotServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xsvc-knot-")
        out = subprocess.run(
            ["bash", "-c", 'source "$0"; knot_start "$1" && echo "$KNOT_PORT $KNOT_PID"',
             os.path.join(HERE, "knot.sh"), os.path.join(self.dir, "dns")],
            capture_output=True, text=True, check=True, timeout=360)
        self.port, self.pid = (int(x) for x in out.stdout.split())

    def running(self):
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def stop(self):
        try:
            os.kill(self.pid, 15)
            for _ in range(50):
                if not self.running():
                    break
                time.sleep(0.1)
            else:
                os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
