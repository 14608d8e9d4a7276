"""The evidence site in a real headless Chromium: index, filters, a claim page, a screenshot.

Runs whenever Chromium is installed (``.ci/system-deps`` installs it); skips with the reason
otherwise. The screenshot lands in ``test-artifacts/site-claim.png`` (git-ignored).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin
from urllib.request import url2pathname

import pytest

from harness.cli import main
from tests.harness.render.space import populated

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = [self] if (tag in (None, self.tag) and all(
            self.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())) else []
        for child in self.children:
            found += child.all(tag, **attrs)
        return found

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()

    @property
    def full_text(self) -> str:
        return (self.text + "".join(c.full_text for c in self.children)).strip()


class _Builder(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "input", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def chromium(*args: str) -> str:
    if BROWSER is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/system-deps)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def dom(url: str) -> Node:
    builder = _Builder()
    builder.feed(chromium("--dump-dom", url))
    return builder.root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, str], str]]:
    if BROWSER is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/system-deps)")
    root = tmp_path_factory.mktemp("site-ws")
    space = populated(root)
    assert main(["render", "--root", str(root), "--site", str(root / "site")]) == 0
    ledger = space.ledger()
    latest = {k: str(s.verdict) for k, s in ledger.latest().items()}
    return root / "site", latest


def test_index_links_to_a_claim_page_that_shows_the_ledger(
        site: tuple[Path, dict[tuple[str, str], str]]) -> None:
    folder, latest = site
    index_url = (folder / "index.html").as_uri()
    index = dom(index_url)
    rows = {r.attrs["data-claim"]: r for r in index.all("tr") if r.has_class("claim")}
    assert sorted(rows) == ["LM-LOSS", "TOY-TEXT-NOT-TINY"]
    badges = [b.full_text for b in rows["LM-LOSS"].all("span") if b.has_class("badge")]
    assert badges == ["demo-torch: PASS", "demo-mlx: PASS", "demo-untied: FAIL"]
    assert index.all("span", id="shown")[0].full_text == "2 of 2 claims shown"
    link = rows["LM-LOSS"].all("a")[0].attrs["href"]
    page_url = urljoin(index_url, link)
    assert Path(url2pathname(page_url.removeprefix("file://"))).is_file()
    page = dom(page_url)
    assert page.all("h1", id="claim-id")[0].full_text == "LM-LOSS"
    shown = {}
    for row in page.all("table", id="latest")[0].all("tr")[1:]:
        badge = next(b for b in row.all("span") if b.has_class("badge"))
        shown[("LM-LOSS", row.attrs["data-subject"])] = badge.full_text
        if row.attrs["data-subject"] == "demo-torch":
            values = {m.attrs["data-name"]: m.full_text for m in row.all("div")
                      if m.has_class("measurement")}
            assert values["val_nll"] == "val_nll 3.41 nats [3.36, 3.46]"
    assert shown == {k: v for k, v in latest.items() if k[0] == "LM-LOSS"}
    images = [urljoin(page_url, i.attrs["src"]) for i in page.all("img")]
    assert images
    assert all(Path(url2pathname(u.removeprefix("file://"))).is_file() for u in images)
    back = page.all("a", id="back")[0].attrs["href"]
    assert urljoin(page_url, back) == index_url


def test_filters_hide_rows_in_the_browser(site: tuple[Path, dict[tuple[str, str], str]]) -> None:
    folder, _ = site
    index = dom((folder / "index.html").as_uri() + "?verdict=SUSPECT")
    visible = [r.attrs["data-claim"] for r in index.all("tr")
               if r.has_class("claim") and "hidden" not in r.attrs]
    assert visible == ["TOY-TEXT-NOT-TINY"]
    assert index.all("span", id="shown")[0].full_text == "1 of 2 claims shown"
    index = dom((folder / "index.html").as_uri() + "?milestone=lm")
    visible = [r.attrs["data-claim"] for r in index.all("tr")
               if r.has_class("claim") and "hidden" not in r.attrs]
    assert visible == ["LM-LOSS"]


def test_screenshot_of_a_claim_page(site: tuple[Path, dict[tuple[str, str], str]]) -> None:
    folder, _ = site
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "site-claim.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", "--window-size=1280,900",
             (folder / "claims" / "TOY-TEXT-NOT-TINY.html").as_uri())
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 10_000
