"""The web app in a real browser: sign in on the PDS's own page, upload with progress, review the
record, publish, play, edit, delete — and the network's tracks appearing in Discover."""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mutagen.id3 import ID3, TALB, TIT2, TPE1
from PIL import Image
from playwright.async_api import Browser, Page, expect

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.browser.conftest import SCREENSHOTS
from tests.harness.audio import make_audio
from tests.harness.pds import (
    create_record,
    get_record,
    list_records,
    track_record,
    upload_blob,
)
from tests.harness.server import RunningRelay, run_relay
from tests.harness.waiting import eventually


@pytest.fixture(scope="module")
def musician(network: LocalNetwork) -> Account:
    return network.create_account(f"web{secrets.token_hex(3)}.test")


@pytest.fixture
async def web_relay(
    tmp_path: Path, network: LocalNetwork, musician: Account
) -> AsyncIterator[RunningRelay]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}",
        auto_migrate=True,
        plc_url=network.plc_url,
        handle_resolver_url=network.pds_url,
        allow_private_addresses=True,
        firehose_url=f"ws://localhost:{network.pds_port}/xrpc",
        pds_timeout_seconds=5,
        publish_retry_base_seconds=30,
        publish_worker_interval_seconds=0.5,
        max_upload_bytes=8 * 1024 * 1024,
        demo_handle=musician.handle,
        demo_password=musician.password,
        admin_dids=[musician.did],
    )
    async with run_relay(settings) as running:
        await settled(running, musician)
        yield running


async def settled(relay: RunningRelay, admin: Account) -> None:
    """Until relay's first-start backfill of the sandbox PDS (every account of the test session)
    has finished, so the index holds everything written before this relay started."""
    query = "{ syncStatus { backfill { runId } backfillQueued lastBackfill { finished } } }"
    async with relay.client(admin) as client:

        async def idle() -> bool:
            status = (await client.gql(query)).data["syncStatus"]
            last = status["lastBackfill"]
            if status["backfill"] is None and not status["backfillQueued"] and last:
                assert last["finished"]
                return True
            return False

        await eventually(idle, timeout=30, what="relay's start-up backfill")


@pytest.fixture(scope="module")
def tagged_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MP3 (20 s) with ID3 title/artist/album tags for the form to prefill from."""
    path = make_audio(
        tmp_path_factory.mktemp("web") / "night_drive.mp3", "mp3", seconds=20, freq=262, rate=44100
    )
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Night Drive"))
    tags.add(TPE1(encoding=3, text="The Tag Readers"))
    tags.add(TALB(encoding=3, text="Metadata"))
    tags.save(path)
    return path


@pytest.fixture(scope="module")
def untagged_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("web") / "second_take.wav", "wav", seconds=8)


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def sign_in(page: Page, relay: RunningRelay, account: Account) -> None:
    """Through the web app's form and the PDS's own sign-in and consent pages."""
    await page.goto(f"{relay.url}/login")
    demo = page.get_by_test_id("demo-account")
    await expect(demo).to_contain_text(account.handle)
    await shot(page, "01-login")
    await page.get_by_test_id("use-demo").click()
    await expect(page.get_by_test_id("handle")).to_have_value(account.handle)
    await page.get_by_test_id("sign-in").click()
    # The PDS's page (its own origin, its own UI): password, then consent.
    await page.wait_for_url(re.compile(r"^http://localhost:\d+/oauth/authorize"))
    password = page.locator("input[type=password]")
    await password.fill(account.password)
    await shot(page, "02-pds-sign-in")
    await password.press("Enter")
    consent = page.get_by_role("button", name=re.compile("^(Authorize|Accept|Allow)", re.I))
    await consent.click()
    await page.wait_for_url(f"{relay.url}/")
    await expect(page.get_by_test_id("viewer-handle")).to_have_text(f"@{account.handle}")


async def test_sign_in_upload_publish_play_edit_delete(
    browser: Browser,
    web_relay: RunningRelay,
    network: LocalNetwork,
    musician: Account,
    tagged_mp3: Path,
    untagged_wav: Path,
    tmp_path: Path,
) -> None:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, web_relay, musician)

    # Upload: a throttled connection makes the progress bar observable mid-way.
    await page.get_by_role("link", name="My tracks").click()
    await expect(page.get_by_role("heading", name="My tracks")).to_be_visible()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 50_000},
    )
    await page.get_by_test_id("upload-input").set_input_files(tagged_mp3)
    bar = page.get_by_test_id("upload-bar")
    await expect(bar).to_be_visible()
    await page.wait_for_function(
        "() => { const b = document.querySelector('[data-testid=upload-bar]');"
        " return b && b.value > 0 && b.value < b.max; }"
    )
    await shot(page, "03-upload-progress")
    numbers = await page.get_by_test_id("upload-numbers").inner_text()
    assert re.fullmatch(r"\d+ KB of \d+ KB · \d+%", numbers), numbers
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    # Review: the form is prefilled from the ID3 tags; the record preview is what will be written.
    item = page.get_by_test_id("portal-track").first
    await expect(item.get_by_test_id("draft-badge")).to_be_visible(timeout=30_000)
    await expect(item.get_by_test_id("edit-title")).to_have_value("Night Drive")
    await expect(item.get_by_test_id("edit-artist")).to_have_value("The Tag Readers")
    await expect(item.get_by_test_id("edit-album")).to_have_value("Metadata")
    preview = item.get_by_test_id("record-preview")
    await expect(preview).to_contain_text('"$type": "app.relay.track"')
    await item.get_by_test_id("edit-title").fill("Night Drive (radio edit)")
    await expect(preview).to_contain_text('"title": "Night Drive (radio edit)"')
    await shot(page, "04-review-record")
    uri = await item.get_attribute("data-uri")
    assert uri is not None and uri.startswith(f"at://{musician.did}/app.relay.track/")
    assert await get_record(network, uri) is None  # a draft: nothing on the PDS yet

    await item.get_by_test_id("publish").click()
    badge = item.get_by_test_id("published-badge")
    await expect(badge).to_be_visible()
    assert "com.atproto.repo.getRecord" in (await badge.get_attribute("href") or "")
    assert await badge.get_attribute("title") == uri
    stored = await get_record(network, uri)
    assert stored is not None
    assert stored["value"]["title"] == "Night Drive (radio edit)"
    assert stored["value"]["album"] == "Metadata"
    await shot(page, "05-published")

    # Play: the audio element's time advances; the arrow key seeks (a Range request to relay).
    ranges: list[int] = []
    page.on(
        "response",
        lambda r: ranges.append(r.status) if "/audio/" in r.url else None,
    )
    await item.get_by_role("button", name="Play Night Drive (radio edit)").click()
    player = page.get_by_test_id("player")
    await expect(player.get_by_test_id("player-title")).to_have_text("Night Drive (radio edit)")
    await page.wait_for_function("() => document.querySelector('audio').currentTime > 1")
    await expect(player.get_by_test_id("player-duration")).to_have_text("0:20")
    await page.locator("body").press("ArrowRight")
    await page.wait_for_function("() => document.querySelector('audio').currentTime > 6")
    await page.locator("body").press("Space")
    await page.wait_for_function("() => document.querySelector('audio').paused")
    await shot(page, "06-playing")
    assert 206 in ranges, ranges

    # Edit a published track inline: the record on the PDS is rewritten.
    await item.get_by_test_id("edit").click()
    await item.get_by_test_id("edit-album").fill("Second Pressing")
    await item.get_by_test_id("save").click()
    await expect(item).to_contain_text("Second Pressing")
    await expect(item.get_by_test_id("save")).to_have_count(0)
    stored = await get_record(network, uri)
    assert stored is not None and stored["value"]["album"] == "Second Pressing"
    # Its cover is added, then taken off again: both reach the record at once.
    sleeve = tmp_path / "sleeve.png"
    Image.new("RGB", (500, 500), (240, 120, 30)).save(sleeve, "PNG")
    await item.get_by_test_id("edit").click()
    await item.get_by_test_id("change-cover").set_input_files(sleeve)
    await expect(item.get_by_test_id("remove-cover")).to_be_visible()
    await expect(item.locator("header").get_by_test_id("cover")).to_be_visible()
    stored = await get_record(network, uri)
    assert stored is not None and stored["value"]["imageUrl"].endswith(".jpg")
    await shot(page, "05b-cover-added")
    await item.get_by_test_id("remove-cover").click()
    await expect(item.locator("header").get_by_test_id("cover-tile")).to_be_visible()
    stored = await get_record(network, uri)
    assert stored is not None and "imageUrl" not in stored["value"]
    await item.get_by_role("button", name="Cancel").click()

    # A second track, no tags: the title comes from the file name. It goes with cover artwork
    # chosen first (previewed), made a square JPEG and named in the record.
    art = tmp_path / "art.png"
    Image.new("RGB", (640, 480), (30, 120, 200)).save(art, "PNG")
    await page.get_by_test_id("cover-input").set_input_files(art)
    await expect(page.get_by_alt_text("Chosen cover artwork")).to_be_visible()
    await page.get_by_test_id("upload-input").set_input_files(untagged_wav)
    second = page.get_by_test_id("portal-track").first
    await expect(second.get_by_test_id("edit-title")).to_have_value("second take")
    await expect(second.get_by_test_id("edit-artist")).to_have_value(musician.handle)
    await expect(page.get_by_alt_text("Chosen cover artwork")).to_have_count(0)  # used up
    cover = second.locator("header").get_by_test_id("cover")
    await expect(cover).to_be_visible()
    assert await cover.evaluate("img => img.complete && img.naturalWidth === 1000")
    await second.get_by_test_id("publish").click()
    await expect(second.get_by_test_id("published-badge")).to_be_visible()
    second_uri = await second.get_attribute("data-uri")
    assert second_uri is not None
    with_art = await get_record(network, second_uri)
    assert with_art is not None and with_art["value"]["imageUrl"].endswith(".jpg")

    # Discover lists both, newest first, and the persistent player survived the navigation.
    await page.get_by_role("link", name="Discover").click()
    row = page.locator(f'[data-testid=track][data-uri="{uri}"]')
    await expect(row).to_contain_text("Night Drive (radio edit)")
    await expect(player).to_be_visible()
    await shot(page, "07-discover")
    # The artist page: newest first; next/previous walk the list played from (Shift+→ / ←).
    await row.get_by_test_id("artist-link").click()
    await expect(page.get_by_test_id("artist-name")).to_have_text(f"@{musician.handle}")
    titles = page.get_by_test_id("track-title")
    await expect(titles.nth(0)).to_have_text("second take")
    await expect(titles.nth(1)).to_have_text("Night Drive (radio edit)")
    await page.get_by_role("button", name="Play second take").click()
    await expect(player.get_by_test_id("player-title")).to_have_text("second take")
    await page.locator("body").press("Shift+ArrowRight")
    await expect(player.get_by_test_id("player-title")).to_have_text("Night Drive (radio edit)")
    await page.get_by_role("button", name="Previous track").click()
    await expect(player.get_by_test_id("player-title")).to_have_text("second take")
    await page.wait_for_function("() => document.querySelector('audio').currentTime > 0.5")
    await shot(page, "08-artist-page-playing")

    # Delete with confirmation: the record leaves the PDS, the track the index.
    await page.get_by_role("link", name="My tracks").click()
    item = page.locator(f'[data-testid=portal-track][data-uri="{uri}"]')
    await item.get_by_test_id("delete").click()
    await expect(item.get_by_role("alertdialog")).to_contain_text("cannot be undone")
    await shot(page, "09-delete-confirm")
    await item.get_by_test_id("confirm-delete").click()
    await expect(item).to_have_count(0)
    assert await get_record(network, uri) is None
    assert errors == []
    await context.close()


async def published_by(relay: RunningRelay, did: str) -> int:
    query = "query($d: String!) { tracks(where: {artistDid: $d}) { totalCount } }"
    async with relay.client() as client:
        count: int = (await client.gql(query, {"d": did})).data["tracks"]["totalCount"]
    return count


async def until_indexed(relay: RunningRelay, did: str, count: int) -> None:
    async def enough() -> bool:
        return await published_by(relay, did) >= count

    await eventually(enough, what=f"{count} tracks of {did} indexed")


async def test_the_networks_tracks_appear_in_discover(
    browser: Browser, web_relay: RunningRelay, network: LocalNetwork
) -> None:
    neighbour = network.create_account(f"nb{secrets.token_hex(3)}.test")
    # relay follows the PDS's firehose from "now": write until a write arrives (one written
    # before relay connected never will).
    warm_ups = 0

    async def warmed_up() -> bool:
        nonlocal warm_ups
        warm_ups += 1
        await create_record(
            network, neighbour, track_record(f"Warm-up {warm_ups}", artist="Next Door")
        )
        try:
            await until_indexed(web_relay, neighbour.did, 1)
        except AssertionError:
            return False
        return True

    await eventually(warmed_up, timeout=120, interval=0, what="the firehose carrying a write")

    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    await page.goto(web_relay.url + "/")
    await expect(page.get_by_role("heading", name="Discover")).to_be_visible()
    await expect(page.get_by_test_id("track-count")).to_contain_text("track")
    # Another client of the network writes a record straight to the neighbour's repo: it shows
    # up without a reload (firehose → index → trackEvents subscription).
    created = await create_record(
        network, neighbour, track_record("Written Elsewhere", artist="Next Door")
    )
    row = page.locator(f'[data-testid=track][data-uri="{created["uri"]}"]')
    await expect(row).to_contain_text("Written Elsewhere", timeout=20_000)
    # Its audio is on a host this relay does not vouch for: listed, not played.
    await expect(row).to_contain_text("not playable here")
    await expect(row.get_by_test_id("play")).to_have_count(0)
    # No artwork in the record: a tile with the title's initial stands in.
    await expect(row.get_by_test_id("cover-tile")).to_have_text("W")
    # Artwork from relay's own origin is shown; from a host relay does not vouch for, the page's
    # policy blocks it and the tile stands in (no stranger sees who looks at the page).
    own_art = await create_record(
        network, neighbour,
        track_record("With Artwork", artist="Next Door", imageUrl=web_relay.url + "/favicon.svg"),
    )  # fmt: skip
    foreign_art = await create_record(
        network, neighbour,
        track_record("Foreign Artwork", artist="Next Door",
                     imageUrl="https://art.elsewhere.example/cover.jpg"),
    )  # fmt: skip
    shown = page.locator(f'[data-testid=track][data-uri="{own_art["uri"]}"]')
    cover = shown.get_by_test_id("cover")
    await expect(cover).to_be_visible(timeout=20_000)
    await expect(cover).to_have_attribute("src", web_relay.url + "/favicon.svg")
    assert await cover.evaluate("img => img.complete && img.naturalWidth > 0")
    blocked = page.locator(f'[data-testid=track][data-uri="{foreign_art["uri"]}"]')
    await expect(blocked.get_by_test_id("cover-tile")).to_have_text("F", timeout=20_000)
    await shot(page, "10-discover-network-track")

    # Search narrows the list (and lands in the address bar).
    await page.get_by_test_id("search").fill("written elsewhere")
    await expect(page.get_by_test_id("track")).to_have_count(1)
    await expect(page).to_have_url(re.compile(r"\?q=written\+elsewhere$"))
    # A search that finds nothing says so (and an unsearched, empty index would say that).
    await page.get_by_test_id("search").fill("no such words anywhere")
    await expect(page.get_by_text("Nothing matches. Try another search.")).to_be_visible()
    await page.get_by_test_id("search").fill("written elsewhere")
    await expect(page.get_by_test_id("track")).to_have_count(1)

    # More than a page of tracks on the artist's page: the rest load as the list end comes into
    # view (the artist page lists this one account, so its count is exact).
    for n in range(26):
        await create_record(network, neighbour, track_record(f"Filler {n:02}", artist="Next Door"))
    await until_indexed(web_relay, neighbour.did, 30)
    total = await published_by(web_relay, neighbour.did)
    await row.get_by_test_id("artist-link").click()
    await expect(page.get_by_test_id("artist-name")).to_have_text(f"@{neighbour.handle}")
    await expect(page.get_by_test_id("track-count")).to_have_text(f"{total} tracks")
    rows = page.get_by_test_id("track")
    await expect(rows).to_have_count(25)
    await page.locator(".sentinel").scroll_into_view_if_needed()
    await expect(rows).to_have_count(total)
    await shot(page, "11-artist-page-scrolled")

    # A reload on a client-side route is served the app (relay's fallback page).
    await page.reload()
    await expect(page.get_by_test_id("artist-name")).to_have_text(f"@{neighbour.handle}")
    await page.close()

    # A phone-sized screen: nothing wider than the viewport.
    phone = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    mobile = await phone.new_page()
    await mobile.goto(web_relay.url + "/?q=filler")
    await expect(mobile.get_by_test_id("track").first).to_be_visible()
    assert await mobile.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await shot(mobile, "12-phone-discover")
    await phone.close()


async def test_errors_read_as_words_and_a_failed_publish_can_be_retried(
    browser: Browser,
    web_relay: RunningRelay,
    network: LocalNetwork,
    musician: Account,
    tagged_mp3: Path,
    tmp_path: Path,
) -> None:
    page = await browser.new_page(viewport={"width": 1000, "height": 900})
    await sign_in(page, web_relay, musician)
    await page.goto(f"{web_relay.url}/portal")
    await expect(page.get_by_text("Loading…")).to_have_count(0)
    # How many tracks the musician has, asked of relay (the page may still be filling its list).
    async with web_relay.client(musician) as client:
        mine = await client.gql(
            "query($d: String!) { tracks(where: {artistDid: $d}) { totalCount } }",
            {"d": musician.did},
        )
    before = mine.data["tracks"]["totalCount"]
    await expect(page.get_by_test_id("portal-track")).to_have_count(before)
    upload_input = page.get_by_test_id("upload-input")
    error = page.get_by_test_id("upload-error")

    notes = tmp_path / "notes.txt"
    notes.write_text("these are my lyrics, not audio\n" * 100)
    await upload_input.set_input_files(notes)
    await expect(error).to_contain_text("Could not upload “notes.txt”: Not a recognised audio file")
    await expect(error).not_to_contain_text("{")
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (web_relay.settings.max_upload_bytes + 1024 * 1024))
    await upload_input.set_input_files(big)
    await expect(error).to_have_text("“big.wav” is 9.0 MB: relay accepts files up to 8 MB.")
    await shot(page, "13-upload-errors")
    await expect(page.get_by_test_id("portal-track")).to_have_count(before)  # nothing was kept

    await upload_input.set_input_files(tagged_mp3)
    item = page.get_by_test_id("portal-track").first
    await expect(item.get_by_test_id("publish")).to_be_visible(timeout=30_000)
    uri = await item.get_attribute("data-uri")
    assert uri is not None
    network.pds.stop()
    try:
        await item.get_by_test_id("publish").click()
        await expect(item.get_by_test_id("failed-badge")).to_be_visible(timeout=30_000)
        failure = item.get_by_test_id("publish-error")
        await expect(failure).to_contain_text("relay tries again on its own")
        await shot(page, "14-publish-failed")
    finally:
        network.pds.start("/xrpc/_health")
    await item.get_by_test_id("retry").click()
    await expect(item.get_by_test_id("published-badge")).to_be_visible(timeout=30_000)
    stored = await get_record(network, uri)
    assert stored is not None and stored["value"]["title"] == "Night Drive"
    await page.close()


async def test_liking_a_track_from_discover(
    browser: Browser, web_relay: RunningRelay, network: LocalNetwork, musician: Account
) -> None:
    neighbour = network.create_account(f"lk{secrets.token_hex(3)}.test")
    made = await create_record(
        network,
        neighbour,
        track_record("Worth A Like", artist="Next Door"),
    )
    async with web_relay.client(musician) as client:
        await client.gql("mutation($d: [String!]!) { backfill(input: {dids: $d}) { runId } }",
                         {"d": [neighbour.did]})  # fmt: skip
    await until_indexed(web_relay, neighbour.did, 1)

    # Signed out: the count is shown and the heart leads to sign-in.
    anonymous = await browser.new_page(viewport={"width": 1200, "height": 900})
    await anonymous.goto(f"{web_relay.url}/?q=worth+a+like")
    row = anonymous.locator(f'[data-testid=track][data-uri="{made["uri"]}"]')
    await expect(row.get_by_test_id("like-count")).to_have_text("0")
    await expect(row.get_by_test_id("like")).to_have_attribute("href", "/login")
    await anonymous.close()

    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, web_relay, musician)
    await page.goto(f"{web_relay.url}/?q=worth+a+like")
    row = page.locator(f'[data-testid=track][data-uri="{made["uri"]}"]')
    like = row.get_by_test_id("like")
    await expect(like).to_have_attribute("aria-pressed", "false")
    await like.click()
    await expect(like).to_have_attribute("aria-pressed", "true")
    await expect(row.get_by_test_id("like-count")).to_have_text("1")

    # Written to the listener's own repo, as an app.relay.like naming the track (the heart
    # shows at once; the write follows).
    async def one_like() -> bool:
        records = await list_records(network, musician, "app.relay.like")
        return [r["value"]["subject"]["uri"] for r in records].count(made["uri"]) == 1

    await eventually(one_like, what="the like record in the listener's repo")
    await expect(like).to_be_enabled()
    await expect(row.get_by_role("alert")).to_have_count(0)
    await shot(page, "13-liked")
    # Popular this week: the liked track with its count, the order kept in the address.
    await page.get_by_test_id("sort").select_option("popular")
    await expect(page).to_have_url(re.compile(r"sort=popular"))
    await expect(page.get_by_test_id("track").first).to_have_attribute("data-uri", made["uri"])
    # What the server holds: still liked after a reload.
    await page.reload()
    row = page.locator(f'[data-testid=track][data-uri="{made["uri"]}"]')
    await expect(row.get_by_test_id("like")).to_have_attribute("aria-pressed", "true")
    await row.get_by_test_id("like").click()
    await expect(row.get_by_test_id("like-count")).to_have_text("0")
    await expect(row.get_by_test_id("like")).to_have_attribute("aria-pressed", "false")
    await eventually(
        lambda: _no_like_of(network, musician, made["uri"]), what="the like record removed"
    )
    assert errors == []
    await context.close()


async def _no_like_of(network: LocalNetwork, account: Account, uri: str) -> bool:
    records = await list_records(network, account, "app.relay.like")
    return all(r["value"]["subject"]["uri"] != uri for r in records)


async def test_building_a_playlist_and_playing_it_in_order(
    browser: Browser, web_relay: RunningRelay, musician: Account, untagged_wav: Path
) -> None:
    word = secrets.token_hex(3)
    async with web_relay.client(musician) as client:
        made = [
            (await client.upload(untagged_wav, title=f"{name} {word}")).data["uploadTrack"]
            for name in ("Dawn", "Dusk")
        ]
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, web_relay, musician)
    await page.goto(f"{web_relay.url}/?q={word}")
    rows = {t["title"]: page.locator(f'[data-testid=track][data-uri="{t["uri"]}"]') for t in made}

    # From Dusk's menu: a new playlist holding it; from Dawn's: added to that playlist.
    dusk = rows[f"Dusk {word}"]
    await dusk.get_by_test_id("add-to-list").click()
    await dusk.get_by_test_id("new-list-name").fill(f"Evening {word}")
    await dusk.get_by_test_id("new-list").click()
    await expect(dusk.get_by_test_id("added")).to_contain_text(f"Evening {word}")
    dawn = rows[f"Dawn {word}"]
    await dawn.get_by_test_id("add-to-list").click()
    await dawn.get_by_test_id("list-choice").filter(has_text=f"Evening {word}").click()
    await expect(dawn.get_by_test_id("added")).to_contain_text(f"Evening {word}")
    await shot(page, "14-added-to-playlist")

    # Its page: in the order added; reordered with the row's button, then with the keyboard.
    await dawn.get_by_test_id("added").get_by_role("link").click()
    await expect(page.get_by_test_id("list-name")).to_have_text(f"Evening {word}")
    titles = page.get_by_test_id("list-item-title")
    await expect(titles).to_have_text([f"Dusk {word}", f"Dawn {word}"])
    await page.get_by_test_id("list-item").nth(1).get_by_test_id("move-up").click()
    await expect(titles).to_have_text([f"Dawn {word}", f"Dusk {word}"])
    await expect(page.get_by_test_id("list-item").first.get_by_test_id("move-down")).to_be_enabled()
    await page.get_by_test_id("list-item").first.get_by_test_id("move-down").focus()
    await page.keyboard.press("Alt+ArrowDown")
    await expect(titles).to_have_text([f"Dusk {word}", f"Dawn {word}"])
    await expect(page.get_by_test_id("list-item").nth(1).get_by_test_id("move-up")).to_be_enabled()
    await page.get_by_test_id("list-item").nth(1).get_by_test_id("move-up").focus()
    await page.keyboard.press("Alt+ArrowUp")
    await expect(titles).to_have_text([f"Dawn {word}", f"Dusk {word}"])
    await expect(page.get_by_test_id("list-item").first.get_by_test_id("move-down")).to_be_enabled()
    # Saved in the record: the order holds after a reload.
    await page.reload()
    await expect(titles).to_have_text([f"Dawn {word}", f"Dusk {word}"])

    # Play all: in the list's order.
    await page.get_by_test_id("play-all").click()
    await expect(page.get_by_test_id("player-title")).to_have_text(f"Dawn {word}")
    await page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a && a.currentTime > 0; }"
    )
    await page.get_by_role("button", name="Next track").click()
    await expect(page.get_by_test_id("player-title")).to_have_text(f"Dusk {word}")
    await shot(page, "15-playlist-playing")

    # On the portal, the playlist is listed; an album is made from the uploads.
    await page.get_by_role("link", name="My tracks").click()
    await expect(
        page.get_by_test_id("list-link").filter(has_text=f"Evening {word}")
    ).to_be_visible()
    await page.get_by_test_id("new-list-title").fill(f"Album {word}")
    for pick in await page.get_by_test_id("album-pick").all():
        await pick.check()
    await page.get_by_test_id("create-list").click()
    album = page.get_by_test_id("list-link").filter(has_text=f"Album {word}")
    await expect(album).to_contain_text("Album")
    await shot(page, "16-portal-lists")
    assert errors == []
    await context.close()


async def test_an_artist_page_shows_their_profile(
    browser: Browser, web_relay: RunningRelay, network: LocalNetwork, musician: Account
) -> None:
    singer = network.create_account(f"pf{secrets.token_hex(3)}.test")
    await create_record(network, singer, track_record("Portrait", artist="Singer"))
    face = io.BytesIO()
    Image.new("RGB", (128, 128), (240, 160, 40)).save(face, "PNG")
    avatar = await upload_blob(network, singer, face.getvalue(), "image/png")
    await create_record(
        network, singer,
        {"$type": "app.bsky.actor.profile", "displayName": "The Singer",
         "description": "Songs about rivers.", "avatar": avatar},
        rkey="self", collection="app.bsky.actor.profile",
    )  # fmt: skip
    async with web_relay.client(musician) as client:
        await client.gql("mutation($d: [String!]!) { backfill(input: {dids: $d}) { runId } }",
                         {"d": [singer.did]})  # fmt: skip
    await until_indexed(web_relay, singer.did, 1)
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    await page.goto(f"{web_relay.url}/artist/{singer.did}")
    await expect(page.get_by_test_id("artist-display-name")).to_have_text("The Singer")
    await expect(page.get_by_test_id("artist-name")).to_have_text(f"@{singer.handle}")
    await expect(page.get_by_test_id("artist-description")).to_have_text("Songs about rivers.")
    picture = page.get_by_test_id("avatar")
    await expect(picture).to_be_visible()
    await page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=avatar]');"
        " return i && i.complete && i.naturalWidth === 128; }"
    )
    await shot(page, "17-artist-profile")
    await page.close()
