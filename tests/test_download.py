"""Downloads against a local HTTP server: verified, retried, refused on a bad checksum, clear offline."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from dataclasses import replace

import pytest

from tutor.data import download
from tutor.data.download import DownloadError, Source, fetch

BODY = ("It had always been his fate to have his work praised by the people who did not count.\n\n" * 200).encode()


@pytest.fixture
def server(tmp_path):
    (tmp_path / "book.txt").write_bytes(BODY)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def source(url: str, sha: str | None = None) -> Source:
    return Source("book", url, sha or hashlib.sha256(BODY).hexdigest(), len(BODY), "book.txt", "a test book",
                  "public domain", "copy book.txt by hand")


def test_download_verifies_and_reports_progress(server):
    seen = []
    path = fetch(source(f"{server}/book.txt"), progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == BODY
    assert seen[-1] == (len(BODY), len(BODY))
    assert fetch(source("http://127.0.0.1:9/never-asked"), retries=1) == path  # already here and verified


def test_bad_checksum_keeps_nothing(server):
    with pytest.raises(DownloadError, match="checksum"):
        fetch(source(f"{server}/book.txt", sha="0" * 64))
    assert not list(download.downloads_dir().glob("book.txt*"))


def test_http_error_is_not_retried(server):
    waits = []
    with pytest.raises(DownloadError, match="404"):
        fetch(source(f"{server}/missing.txt"), wait=waits.append)
    assert waits == []


def test_offline_retries_then_names_the_way_around():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits = []
    with pytest.raises(DownloadError, match="are you offline.*copy book.txt by hand"):
        fetch(source(f"http://127.0.0.1:{port}/book.txt"), retries=3, wait=waits.append)
    assert waits == [2.0, 4.0]


def test_the_verdict_source_is_pinned():
    s = download.SOURCES["the-verdict"]
    assert s.size == 20_479 and len(s.sha256) == 64


def test_a_zip_is_verified_by_its_pinned_member(server, tmp_path):
    import io
    import zipfile

    member = b"ham\tsee you soon\nspam\tWIN a prize now\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("readme.txt", "about")
        z.writestr("SMSSpamCollection", member)
    (tmp_path / "sms.zip").write_bytes(buffer.getvalue())  # the server's folder is this test's tmp_path
    zipped = replace(source(f"{server}/sms.zip", sha=hashlib.sha256(member).hexdigest()), filename="sms.zip", member="SMSSpamCollection", kind="sms")
    assert fetch(zipped).name == "sms.zip"
    wrong = replace(zipped, sha256="0" * 64, filename="sms2.zip")
    with pytest.raises(DownloadError, match="checksum"):
        fetch(wrong)


def test_sms_source_pins_the_collection():
    s = download.SOURCES["sms-spam"]
    assert s.member == "SMSSpamCollection" and s.kind == "sms" and "tutor data import FILE" in s.offline_hint


def test_a_second_source_is_tried_when_the_first_fails(server):
    waits = []
    two = replace(source(f"{server}/missing.txt"), mirrors=(f"{server}/book.txt",))
    assert fetch(two, wait=waits.append).read_bytes() == BODY
    both_bad = replace(source(f"{server}/missing.txt"), mirrors=(f"{server}/gone.txt",), filename="other.txt")
    with pytest.raises(DownloadError, match="none of its 2 sources worked.*404.*404"):
        fetch(both_bad, wait=waits.append)
