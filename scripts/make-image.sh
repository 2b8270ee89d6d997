#!/usr/bin/env bash
# Builds a small image from the host's busybox-static without dockerd or a registry, for the
# agent's offline image support (docs/containers-images.md):
#
#   scripts/make-image.sh REGISTRY_DIR [NAME]      (NAME defaults to localhost/busybox)
#
# writes REGISTRY_DIR/NAME.tar, a `docker save` archive (manifest.json, the config, one layer
# with /bin/busybox, its applets and an /etc/os-release that names the image), which an agent
# started with --image_providers=docker --docker_registry=REGISTRY_DIR runs as image NAME, e.g.
#   mesos-execute --docker_image=localhost/busybox --command='cat /etc/os-release' ...
# The same archive loads into Docker with `docker load -i REGISTRY_DIR/NAME.tar`.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 REGISTRY_DIR [NAME]" >&2
  exit 2
fi
dir=$1
name=${2:-localhost/busybox}
case "$name" in
*..* | /* | *' '*)
  echo "$0: invalid image name '$name'" >&2
  exit 2
  ;;
esac
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then
  echo "$0: busybox is not installed (Debian: apt-get install busybox-static)" >&2
  exit 1
fi

mkdir -p "$dir/$(dirname "$name")"
/usr/bin/python3 - "$busybox" "$dir/$name.tar" "$name" <<'EOF'
import hashlib, io, json, os, subprocess, sys, tarfile, time

busybox, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
repo, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
now = int(time.time())

def add(t, path, data=None, mode=0o644, link=None, dir=False):
    info = tarfile.TarInfo(path)
    info.mtime = now
    if dir:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        t.addfile(info)
    elif link:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
        t.addfile(info)
    else:
        info.size, info.mode = len(data), mode
        t.addfile(info, io.BytesIO(data))

# The layer: busybox and a link per applet it lists, plus the files a shell expects.
applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
        add(t, d, dir=True)
    add(t, "bin/busybox", open(busybox, "rb").read(), 0o755)
    for a in applets:
        if a != "busybox" and "/" not in a:
            add(t, "bin/" + a, link="busybox")
    osr = 'NAME="cmesos busybox"\nID=busybox\nPRETTY_NAME="cmesos busybox image (%s)"\n' % name
    add(t, "etc/os-release", osr.encode())
    add(t, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    add(t, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
layer_bytes = layer.getvalue()
diff_id = hashlib.sha256(layer_bytes).hexdigest()

config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
}, sort_keys=True).encode()
config_id = hashlib.sha256(config).hexdigest()
manifest = json.dumps([{"Config": config_id + ".json", "RepoTags": ["%s:%s" % (repo, tag)],
                        "Layers": [diff_id + "/layer.tar"]}]).encode()
repositories = json.dumps({repo: {tag: diff_id}}).encode()

tmp = out + ".tmp"
with tarfile.open(tmp, mode="w", format=tarfile.USTAR_FORMAT) as t:
    add(t, diff_id, dir=True)
    add(t, diff_id + "/VERSION", b"1.0")
    add(t, diff_id + "/layer.tar", layer_bytes)
    add(t, config_id + ".json", config)
    add(t, "manifest.json", manifest)
    add(t, "repositories", repositories)
os.replace(tmp, out)
print("%s: image %s:%s (layer sha256:%.12s, %d applets)" % (out, repo, tag, diff_id, len(applets)))
EOF
