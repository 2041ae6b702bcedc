"""A PEP 517 build backend for the xsvc package, standard library only, so
that `pip install ./bindings/python` works without PyPI (no setuptools or
wheel to fetch). The package is pure Python: a wheel is a zip of xsvc/ and
its metadata; an editable install is a .pth file pointing here."""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11: the [project] strings are all we read
    tomllib = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        text = f.read()
    if tomllib is not None:
        return tomllib.loads(text.decode())["project"]
    section = re.search(rb"^\[project\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
    return {k.decode(): v.decode() for k, v in
            re.findall(rb'^([\w-]+)\s*=\s*"([^"]*)"', section, re.M)}


def _metadata(p):
    lines = ["Metadata-Version: 2.1", "Name: " + p["name"], "Version: " + p["version"],
             "Summary: " + p.get("description", "")]
    if "requires-python" in p:
        lines.append("Requires-Python: " + p["requires-python"])
    if isinstance(p.get("license"), str):
        lines.append("License: " + p["license"])
    return "\n".join(lines) + "\n"


def _package_files():
    pkg = os.path.join(ROOT, "xsvc")
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py") or name == "py.typed":
            yield "xsvc/" + name, os.path.join(pkg, name)


def _wheel(directory, files):
    """Write a py3-none-any wheel of files ((archive name, bytes) pairs)."""
    p = _project()
    dist = "%s-%s" % (p["name"], p["version"])
    info = dist + ".dist-info/"
    files = list(files) + [
        (info + "METADATA", _metadata(p).encode()),
        (info + "WHEEL", b"Wheel-Version: 1.0\nGenerator: xsvc_build\n"
                         b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (info + "top_level.txt", b"xsvc\n")]
    record = []
    name = dist + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (arc, digest.decode(), len(data)))
        record.append(info + "RECORD,,")
        z.writestr(info + "RECORD", "\n".join(record) + "\n")
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for arc, path in _package_files():
        with open(path, "rb") as f:
            files.append((arc, f.read()))
    return _wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [("xsvc_editable.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    dist = "%s-%s" % (p["name"], p["version"])
    name = dist + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        def add(arc, data):
            ti = tarfile.TarInfo(dist + "/" + arc)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
        for arc, path in [("pyproject.toml", os.path.join(ROOT, "pyproject.toml")),
                          ("_build/xsvc_build.py", os.path.abspath(__file__))] + \
                list(_package_files()):
            with open(path, "rb") as f:
                add(arc, f.read())
        add("PKG-INFO", _metadata(p).encode())
    return name
