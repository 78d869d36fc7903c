"""Search and the sorted documents list on PostgreSQL at 1,000 and at 100,000 documents (10 files each).

Goal: the 95th-percentile time of a search page and of the sorted list at 100,000 documents is at most
3x the same at 1,000 documents, which holds only when the indexes serve the queries (a scan grows 100x).

    .venv/bin/python bench/bench_search.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--small 1000] [--large 100000] [--rounds 15] [--check]

It creates a scratch database beside the one named (and drops it after), brings it to head with the
portal's own migrations, fills it with COPY (realistic German titles, file names and people, folded the
way the portal folds them), then times pages through the portal's WSGI app signed in as staff.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app  # noqa: E402
from portal.folding import document_search_text, fold  # noqa: E402

WORDS = [
    "Rechnung",
    "Angebot",
    "Vertrag",
    "Überweisung",
    "Mahnung",
    "Lieferschein",
    "Protokoll",
    "Bericht",
    "Gutachten",
    "Kündigung",
    "Bestellung",
    "Quittung",
    "Steuer",
    "Versicherung",
    "Miete",
    "Gehalt",
    "Reisekosten",
    "Prüfung",
    "Wartung",
    "Förderung",
    "Antrag",
    "Bescheid",
    "Planung",
    "Übergabe",
]
PLACES = ["Berlin", "München", "Köln", "Düsseldorf", "Straße", "Hof", "Süd", "Nord", "Ost", "West"]
PEOPLE = [
    "Jürgen Weiß",
    "Anna Becker",
    "Sabine Müller",
    "Kai Schröder",
    "Özlem Yılmaz",
    "Lars Öhman",
    "Petra Groß",
    "Tobias Krämer",
    "Ines Faßbender",
    "Marco Lüdtke",
    "Eva Hoß",
    "Jan Köhler",
]
TYPES = [
    ("pdf", "application/pdf"),
    ("jpg", "image/jpeg"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("txt", "text/plain"),
]
SEARCHES = [
    "rechnung",
    "uberweisung koln",
    "weiss",
    "img_0471",
    "kundigung koln",
    "lieferschein 2024",
    "faßbender",
    "protokoll sud",
]
LISTS = [
    "/?sort=title&dir=asc",
    "/?sort=added&dir=desc",
    "/?sort=date&dir=desc&page=3",
    "/?type=spreadsheet&sort=title&dir=asc",
]
PASSWORD = "bench-password-1"


def fill(conn: psycopg.Connection, users: dict[int, str], start: int, count: int, rng: random.Random) -> None:
    """Add ``count`` documents with 10 attachments each, by COPY, in chunks (their search text as the portal
    writes it: title, description, file names and people, folded)."""
    epoch = datetime(2015, 1, 1, tzinfo=UTC)
    people = list(users)
    for chunk in range(start, start + count, 10_000):
        numbers = range(chunk, min(chunk + 10_000, start + count))
        documents, attachments = [], []
        for number in numbers:
            title = f"{rng.choice(WORDS)} {rng.choice(PLACES)} {2015 + number % 11}-{number % 997:03d}"
            description = f"{rng.choice(WORDS)} für {rng.choice(PLACES)}, Vorgang {number}"
            added = epoch + timedelta(minutes=number * 7)
            paper = (added.date() - timedelta(days=rng.randrange(30))) if number % 3 else None
            creator, files = rng.choice(people), []
            for index in range(10):
                extension, mime = TYPES[(number + index) % len(TYPES)]
                stem = (
                    f"IMG_{(number * 10 + index) % 100000:05d}"
                    if extension == "jpg"
                    else f"{rng.choice(WORDS)} {rng.choice(PLACES)} {number}-{index}"
                )
                uploader = rng.choice(people)
                files.append((f"{stem}.{extension}", users[uploader]))
                attachments.append(
                    (
                        number,
                        f"{stem}.{extension}",
                        mime,
                        1000 + index,
                        f"attachments/{uuid.uuid4().hex}",
                        "s3",
                        uploader,
                        added,
                    )
                )
            documents.append(
                (
                    number,
                    title,
                    description,
                    document_search_text(title, description, users[creator], files),
                    fold(title),
                    creator,
                    added,
                    paper,
                )
            )
        with conn.cursor() as cur:
            with cur.copy(
                "COPY document.document (id, title, description, search_text, title_folded, created_by, "
                "created_at, document_date) FROM STDIN"
            ) as copy:
                for row in documents:
                    copy.write_row(row)
            with cur.copy(
                "COPY document.attachment (document_id, filename, content_type, size, storage_path, "
                "storage_type, uploaded_by, created_at) FROM STDIN"
            ) as copy:
                for row in attachments:
                    copy.write_row(row)
    with conn.cursor() as cur:
        cur.execute("SELECT setval(pg_get_serial_sequence('document.document', 'id'), %s)", (start + count,))
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE document.document")
        cur.execute("VACUUM ANALYZE document.attachment")
    conn.autocommit = False


def sign_in(client) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/auth/login", data={"email": "bench0@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.status_code


def timings(client, urls: list[str], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        for url in urls:
            started = time.perf_counter()
            response = client.get(url)
            body = response.get_data()
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200 and b"document" in body, (url, response.status_code)
    return samples


def p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()

    name = f"portal_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.database_url).set(database=name)
    met = True
    try:
        with tempfile.TemporaryDirectory() as folder:
            app = create_app(
                {
                    "INSTANCE_PATH": folder,
                    "DATABASE_URL": url.render_as_string(hide_password=False),
                    "SECRET_KEY": "bench-secret-key-bench-secret-key",
                    "LOCAL_STORAGE_PATH": folder,
                },
                environ={},
            )
            with app.app_context():
                from flask_migrate import upgrade

                from portal.auth.service import create_user
                from portal.extensions import db

                upgrade()
                users = {
                    create_user(f"bench{i}@example.com", person, PASSWORD).id: person for i, person in enumerate(PEOPLE)
                }
                db.session.remove()
            rng = random.Random(7)
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            results = {}
            with psycopg.connect(dsn) as conn:
                done = 0
                for size in (args.small, args.large):
                    started = time.perf_counter()
                    fill(conn, users, done + 1, size - done, rng)
                    done = size
                    print(
                        f"{size:>7} documents, {size * 10:>8} attachments: filled in "
                        f"{time.perf_counter() - started:.1f} s",
                        flush=True,
                    )
                    client = app.test_client()
                    with app.app_context():
                        sign_in(client)
                        timings(client, [f"/?q={q}" for q in SEARCHES] + LISTS, 1)  # warm caches and the plans
                        results[size] = {
                            "search": timings(client, [f"/?q={q}" for q in SEARCHES], args.rounds),
                            "sorted list": timings(client, LISTS, args.rounds),
                        }
            for kind in ("search", "sorted list"):
                small, large = results[args.small][kind], results[args.large][kind]
                ratio = p(large, 95) / p(small, 95)
                ok = ratio <= 3.0
                met &= ok
                print(
                    f"{kind:>12}: p50 {p(small, 50):6.1f} ms -> {p(large, 50):6.1f} ms, "
                    f"p95 {p(small, 95):6.1f} ms -> {p(large, 95):6.1f} ms; p95 ratio {ratio:.2f}x "
                    f"(goal <= 3x: {'met' if ok else 'NOT met'})"
                )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
