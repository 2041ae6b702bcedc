#!/bin/sh
# The Python binding installs with pip from the source tree without PyPI
# (its build backend is standard library only): a fresh venv, `pip install
# --no-index`, plain and editable, then a resolution through the library
# just built.
# usage: check_python.sh SOURCE_DIR LIBRARY
set -eu
src=$1
lib=$2
py=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m venv "$work/venv"
check() {
  XSVC_LIBRARY="$lib" "$work/venv/bin/python" - "$1" <<'PY'
import os, sys
import xsvc
where = os.path.dirname(xsvc.__file__)
assert (sys.argv[1] == "site") == ("site-packages" in where), where
assert os.path.exists(os.path.join(where, "py.typed"))
from importlib.metadata import metadata
assert metadata("xsvc")["License"] == "MIT", metadata("xsvc")["License"]
reg = xsvc.Registry()
reg.add_cluster_ip("prod", "db", "10.96.0.7")
with xsvc.Resolver(registry=reg, namespace="prod") as r:
    assert [a.address for a in r.resolve("db").addresses] == ["10.96.0.7"]
print("python binding installed (%s): ok" % sys.argv[1])
PY
}
"$work/venv/bin/pip" install -q --no-index "$src/bindings/python"
check site
"$work/venv/bin/pip" uninstall -q -y xsvc
"$work/venv/bin/pip" install -q --no-index -e "$src/bindings/python"
check editable
