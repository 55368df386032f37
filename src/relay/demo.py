"""The demo catalogue ``relay dev`` starts with: a second sandbox artist whose tracks (generated
audio, a few seconds each, and generated cover art) are uploaded through relay's own API as soon
as it answers, gathered into an album; and two listeners who like some of them, one with a
playlist — so a newcomer's first screen is music, published to the sandbox PDS and indexed like
any other."""

from __future__ import annotations

import io
import logging
import math
import struct
import time
import wave
from dataclasses import dataclass

import httpx
import orjson

log = logging.getLogger(__name__)

_RATE = 22_050
_UPLOAD = """
mutation($input: UploadTrackInput!) { uploadTrack(input: $input) { uri publishState imageUrl } }
"""
_LOGIN = "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { token } }"
_LIST = "mutation($input: CreateListInput!) { createList(input: $input) { uri } }"
_LIKE = "mutation($id: ID!) { likeTrack(id: $id) { likeCount } }"
DEMO_ALBUM = "Low Light"
DEMO_PLAYLIST = "Night Walk"


@dataclass(frozen=True)
class DemoTrack:
    title: str
    album: str | None
    notes: tuple[float, ...]  # Hz, one per beat
    beat_seconds: float = 0.5


DEMO_ARTIST = "Nightjar"
DEMO_TRACKS = (
    DemoTrack("Tidepool", "Low Light", (220.0, 277.2, 329.6, 277.2, 246.9, 293.7, 370.0, 293.7)),
    DemoTrack("Glasswing", "Low Light", (392.0, 329.6, 261.6, 329.6, 349.2, 293.7, 246.9, 293.7)),
    DemoTrack("Slow Orbit", "Low Light", (130.8, 164.8, 196.0, 246.9), beat_seconds=1.0),
    DemoTrack("Paper Lanterns", None, (523.3, 440.0, 392.0, 440.0, 523.3, 587.3, 659.3, 587.3)),
)


def tone_wav(notes: tuple[float, ...], beat_seconds: float) -> bytes:
    """A mono 16-bit WAV playing ``notes`` (with a soft attack and release each)."""
    samples = bytearray()
    per_beat = int(_RATE * beat_seconds)
    for frequency in notes:
        for i in range(per_beat):
            envelope = min(1.0, i / 400, (per_beat - i) / 2000)
            value = math.sin(2 * math.pi * frequency * i / _RATE)
            value += 0.3 * math.sin(4 * math.pi * frequency * i / _RATE)  # a little warmth
            samples += struct.pack("<h", int(9000 * envelope * value))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(_RATE)
        wav.writeframes(bytes(samples))
    return out.getvalue()


def cover_png(title: str, hue: int, size: int = 600) -> bytes:
    """A simple cover: a two-colour gradient with rings, in the track's own colour."""
    import colorsys

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    top = colorsys.hsv_to_rgb(hue / 360, 0.55, 0.85)
    bottom = colorsys.hsv_to_rgb(((hue + 60) % 360) / 360, 0.7, 0.35)
    for y in range(size):
        mix = y / size
        r, g, b = (int(255 * (p * (1 - mix) + q * mix)) for p, q in zip(top, bottom, strict=True))
        draw.line([(0, y), (size, y)], fill=(r, g, b))
    centre = size // 2 + (len(title) * 37) % 120 - 60
    for ring in range(6):
        radius = 40 + ring * 42
        draw.ellipse(
            [centre - radius, size // 2 - radius, centre + radius, size // 2 + radius],
            outline=(255, 255, 255), width=3 if ring % 2 else 1,
        )  # fmt: skip
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _wait_until_answering(http: httpx.Client, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"relay did not answer within {timeout:g}s")
        time.sleep(0.2)


def _call(http: httpx.Client, query: str, variables: dict[str, object], token: str) -> object:
    answer = http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    if answer.get("errors"):
        raise RuntimeError(answer["errors"][0]["message"])
    return answer["data"]


def _sign_in(http: httpx.Client, handle: str, password: str) -> str:
    login = http.post("/graphql", json={"query": _LOGIN, "variables": {"i": handle, "p": password}})
    token: str = login.json()["data"]["login"]["token"]
    return token


def _track_id(uri: str) -> str:
    """A track's global ID (base64 of ``Track:<uri>``)."""
    import base64

    return base64.b64encode(f"Track:{uri}".encode()).decode()


def write_profile(pds_url: str, handle: str, password: str) -> None:
    """Give the demo artist an app.bsky.actor.profile on the sandbox PDS — name, description,
    avatar — as any atproto app would; relay indexes it because it indexes their tracks."""
    with httpx.Client(base_url=pds_url, timeout=30) as pds:
        session = pds.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": handle, "password": password},
        ).json()
        auth = {"Authorization": f"Bearer {session['accessJwt']}"}
        avatar = pds.post(
            "/xrpc/com.atproto.repo.uploadBlob",
            content=cover_png(DEMO_ARTIST, 200, size=256),
            headers={**auth, "Content-Type": "image/png"},
        ).json()["blob"]
        record = {
            "$type": "app.bsky.actor.profile", "displayName": DEMO_ARTIST,
            "description": "Night music from the sandbox: slow tones, low light.", "avatar": avatar,
        }  # fmt: skip
        pds.post(
            "/xrpc/com.atproto.repo.putRecord",
            json={"repo": session["did"], "collection": "app.bsky.actor.profile", "rkey": "self",
                  "record": record},
            headers=auth,
        ).raise_for_status()  # fmt: skip


def upload_demo_catalogue(
    url: str, handle: str, password: str, *, tracks: tuple[DemoTrack, ...] = DEMO_TRACKS,
    listeners: tuple[tuple[str, str], ...] = (), pds_url: str | None = None,
    timeout: float = 120.0,
) -> list[str]:  # fmt: skip
    """Sign in as the demo artist and upload ``tracks`` through relay at ``url``, make an album
    of those that name it; then each of ``listeners`` (handle, password) likes some, and the
    first makes a playlist. The tracks' URIs."""
    with httpx.Client(base_url=url, timeout=60) as http:
        _wait_until_answering(http, timeout)
        token = _sign_in(http, handle, password)
        uris: list[str] = []
        for track in tracks:
            variables = {"input": {"file": None, "title": track.title, "artist": DEMO_ARTIST,
                                   "album": track.album}}  # fmt: skip
            variables["input"]["image"] = None
            operations = orjson.dumps({"query": _UPLOAD, "variables": variables}).decode()
            name = track.title.lower().replace(" ", "-")
            hue = (sum(map(ord, track.title)) * 47) % 360
            answer = http.post(
                "/graphql",
                data={
                    "operations": operations,
                    "map": '{"0": ["variables.input.file"], "1": ["variables.input.image"]}',
                },
                files={
                    "0": (f"{name}.wav", tone_wav(track.notes, track.beat_seconds), "audio/wav"),
                    "1": (f"{name}.png", cover_png(track.title, hue), "image/png"),
                },
                headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "1"},
            ).json()
            if answer.get("errors"):
                raise RuntimeError(f"uploading {track.title!r}: {answer['errors'][0]['message']}")
            uris.append(answer["data"]["uploadTrack"]["uri"])
        album = [_track_id(u) for u, t in zip(uris, tracks, strict=True) if t.album == DEMO_ALBUM]
        if album:
            _call(http, _LIST, {"input": {"name": DEMO_ALBUM, "listType": "album",
                                          "items": album}}, token)  # fmt: skip
        if pds_url is not None:  # now that relay indexes the artist, their profile follows
            write_profile(pds_url, handle, password)
        tokens = [_sign_in(http, listener, secret) for listener, secret in listeners]
        for n, as_listener in enumerate(tokens):
            for uri in dict.fromkeys(uris[:1] + uris[n % 2 :: 2]):  # the first, every other one
                _call(http, _LIKE, {"id": _track_id(uri)}, as_listener)
        if tokens:  # last: once the playlist is there, the whole catalogue is
            walk = [_track_id(u) for u in reversed(uris)]
            _call(http, _LIST, {"input": {"name": DEMO_PLAYLIST, "listType": "playlist",
                                          "description": "For the way home.",
                                          "items": walk}}, tokens[0])  # fmt: skip
        return uris


def seed_in_background(
    url: str,
    handle: str,
    password: str,
    listeners: tuple[tuple[str, str], ...] = (),
    pds_url: str | None = None,
) -> None:
    """Upload the demo catalogue once relay answers, without holding up its start; a failure
    is logged (the stack still works, with an emptier first screen)."""
    import threading

    def run() -> None:
        try:
            uris = upload_demo_catalogue(
                url, handle, password, listeners=listeners, pds_url=pds_url
            )
            log.info("demo catalogue: %d tracks by %s", len(uris), handle)
        except Exception as exc:
            log.warning("the demo catalogue was not uploaded: %s", exc)

    threading.Thread(target=run, name="relay-demo-catalogue", daemon=True).start()
