"""A real S3-compatible server for tests and benchmarks: a one-node Ceph cluster with radosgw.

One monitor, one OSD on a sparse file, pools of size 1, cephx off, radosgw's beast frontend on
127.0.0.1. Needs Debian's ``radosgw ceph-mon ceph-osd`` packages (``scripts/test`` installs them).
Start-up takes ~15 s, so the test suite starts one per session.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aioboto3
import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RadosGateway:
    """A running radosgw; ``stop()`` tears the cluster down and removes its files."""

    root: Path
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, root: Path, timeout: float = 90.0, attempts: int = 2) -> RadosGateway:
        """Boot a cluster under ``root``; a failed boot (seen rarely on a cold machine) is retried
        once from scratch, on new ports."""
        for attempt in range(1, attempts + 1):
            try:
                return cls._start_once(root / f"attempt-{attempt}", timeout)
            except RuntimeError:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _start_once(cls, root: Path, timeout: float) -> RadosGateway:
        if shutil.which("radosgw") is None:
            raise RuntimeError(
                "radosgw is not installed: apt-get install radosgw ceph-mon ceph-osd"
            )
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("mon", "osd", "run", "log"):
            (root / sub).mkdir(exist_ok=True)
        fsid = str(uuid.uuid4())
        mon_port, rgw_port = free_port(), free_port()
        conf = root / "ceph.conf"
        conf.write_text(
            f"""[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon_port}
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr2 = false
run dir = {root}/run
admin socket = {root}/run/$name.asok
log file = {root}/log/$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush update on start = false
osd objectstore = bluestore
bluestore cache size = 64M
osd memory target = 536870912
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw dns name = localhost
rgw enable usage log = false

[mon.a]
mon data = {root}/mon

[osd.0]
osd data = {root}/osd
bluestore block path = {root}/osd-block.img

[client.rgw]
rgw data = {root}/rgw
"""
        )
        gw = cls(
            root=root,
            endpoint_url=f"http://127.0.0.1:{rgw_port}",
            access_key_id="relay" + secrets.token_hex(6),
            secret_access_key=secrets.token_hex(20),
        )
        try:
            gw._boot(conf, fsid, mon_port, timeout)
        except BaseException:
            gw.stop()
            raise
        return gw

    def _run(self, *args: str) -> str:
        result = subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def _ceph(self, conf: Path, *args: str) -> str:
        return self._run("ceph", "-c", str(conf), "--connect-timeout", "20", *args)

    def _spawn(self, *args: str) -> None:
        log = open(self.root / "log" / f"{Path(args[0]).name}.stdout", "ab")  # noqa: SIM115
        self._processes.append(subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT))

    def _boot(self, conf: Path, fsid: str, mon_port: int, timeout: float) -> None:
        c = str(conf)
        monmap = self.root / "monmap"
        self._run(
            "monmaptool", "--create", "--clobber", "--fsid", fsid,
            "--addv", "a", f"[v1:127.0.0.1:{mon_port}]", str(monmap),
        )  # fmt: skip
        self._run("ceph-mon", "-c", c, "--mkfs", "-i", "a", "--monmap", str(monmap))
        self._spawn("ceph-mon", "-c", c, "-i", "a", "-f")
        with open(self.root / "osd-block.img", "wb") as block:
            block.truncate(20 * 1024**3)  # sparse: takes only what is written
        osd_uuid = str(uuid.uuid4())
        osd_id = self._ceph(conf, "osd", "new", osd_uuid).strip()
        self._run("ceph-osd", "-c", c, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        self._ceph(conf, "osd", "crush", "add-bucket", "localhost", "host")
        self._ceph(conf, "osd", "crush", "move", "localhost", "root=default")
        self._ceph(conf, "osd", "crush", "add", f"osd.{osd_id}", "1.0", "host=localhost")
        self._spawn("ceph-osd", "-c", c, "-i", osd_id, "-f")
        self._spawn("radosgw", "-c", c, "-n", "client.rgw", "-f")
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.endpoint_url, timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            dead = [p.args for p in self._processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(
                    f.read_text(errors="replace")[-1500:] for f in (self.root / "log").iterdir()
                )
                raise RuntimeError(f"radosgw did not start (exited: {dead}):\n{logs}")
            time.sleep(0.5)
        self._run(
            "radosgw-admin", "-c", c, "user", "create", "--uid=relay-test",
            "--display-name=relay test", f"--access-key={self.access_key_id}",
            f"--secret-key={self.secret_access_key}",
        )  # fmt: skip

    def client(self, secret: str | None = None) -> Any:
        """An aioboto3 S3 client context for this gateway (``secret`` overrides the real one)."""
        return aioboto3.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
            region_name="auto",
        )

    async def public_bucket(self) -> str:
        """A new bucket anyone may read, as an R2 bucket behind an r2.dev domain is."""
        bucket = f"relay-{secrets.token_hex(4)}"
        async with self.client() as s3:
            await s3.create_bucket(Bucket=bucket)
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ["*"]},
                        "Action": ["s3:GetObject"],
                        "Resource": [f"arn:aws:s3:::{bucket}/*"],
                    }
                ],
            }
            await s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        return bucket

    def stop(self) -> None:
        """Stop radosgw first, then the OSD, then the monitor (the reverse hangs)."""
        for proc in reversed(self._processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)
