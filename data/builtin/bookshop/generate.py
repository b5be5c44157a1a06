"""Rows for the bookshop database: catalogue, customers, orders and reviews."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3

GENRES = [
    "Fantasy",
    "Science Fiction",
    "Mystery",
    "Romance",
    "History",
    "Biography",
    "Poetry",
    "Cookery",
    "Travel",
    "Children",
    "Philosophy",
    "Thriller",
]

PUBLISHERS = [
    # name, city, country, founded_year (None: not recorded)
    ("Harrow & Pike", "London", "United Kingdom", 1921),
    ("Bluefinch Press", "Dublin", "Ireland", 1987),
    ("Northgate Books", "Manchester", "United Kingdom", 1964),
    ("Maison Lumière", "Paris", "France", 1902),
    ("Cedar Lane Publishing", "Boston", "United States", 1978),
    ("Red Kite Editions", "Edinburgh", "United Kingdom", None),
    ("Atlas & Quill", "New York", "United States", 1945),
    ("Verlag Sonnenberg", "Munich", "Germany", 1951),
    ("Little Harbour", "Halifax", "Canada", 2003),
    ("Stoneleaf Press", "Toronto", "Canada", None),
    ("Ediciones Marea", "Madrid", "Spain", 1990),
    ("Paper Lantern", "Melbourne", "Australia", 2011),
]

FIRST_NAMES = [
    "Amelia",
    "Oliver",
    "Isla",
    "Noah",
    "Freya",
    "Leo",
    "Maya",
    "Arthur",
    "Zara",
    "Felix",
    "Nadia",
    "Hugo",
    "Clara",
    "Ivan",
    "Priya",
    "Tomas",
    "Elena",
    "Samuel",
    "Aisha",
    "Lucas",
    "Grace",
    "Mateo",
    "Hannah",
    "Ravi",
    "Sofia",
    "Daniel",
    "Chloe",
    "Omar",
    "Lena",
    "Jack",
]
LAST_NAMES = [
    "Hartley",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castillo",
    "Nakamura",
    "Brennan",
    "Fischer",
    "Adeyemi",
    "Whitfield",
    "Rossi",
    "Kowalski",
    "Sato",
    "Delacroix",
    "Marsh",
    "Oyelaran",
    "Novak",
    "Ellison",
    "Quint",
    "Barros",
    "Holloway",
    "Achebe",
    "Strand",
    "Petrov",
    "Vance",
]
NATIONALITIES = [
    "British",
    "Irish",
    "French",
    "American",
    "German",
    "Canadian",
    "Spanish",
    "Nigerian",
    "Japanese",
    "Australian",
]

TITLE_ADJECTIVES = [
    "Silent",
    "Crimson",
    "Hidden",
    "Last",
    "Broken",
    "Golden",
    "Winter",
    "Forgotten",
    "Distant",
    "Secret",
    "Burning",
    "Quiet",
    "Hollow",
    "Northern",
    "Paper",
    "Glass",
]
TITLE_NOUNS = [
    "Harbour",
    "Garden",
    "Kingdom",
    "Orchard",
    "Lighthouse",
    "Archive",
    "Compass",
    "River",
    "Station",
    "Library",
    "Mountain",
    "Letters",
    "Empire",
    "Island",
    "Tide",
    "Crown",
    "Atlas",
]
TITLE_PATTERNS = [
    "The {adj} {noun}",
    "{noun} of the {adj} Sea",
    "A {adj} {noun}",
    "The {noun} Keeper",
    "Beyond the {adj} {noun}",
]
LANGUAGES = ["English"] * 14 + ["French"] * 3 + ["German"] * 2 + ["Spanish"]
FORMATS = ["Hardcover", "Paperback", "Paperback", "Ebook"]

CITIES = [
    "London",
    "Manchester",
    "Leeds",
    "Bristol",
    "Glasgow",
    "Dublin",
    "Cardiff",
    "York",
    "Oxford",
    "Brighton",
]
# The shop's sign-up form did not normalise case, so the same city appears in several spellings.
CITY_SPELLINGS = {"London": ["London", "london", "LONDON"], "Leeds": ["Leeds", "leeds"]}

STATUSES = ["delivered"] * 14 + ["shipped"] * 3 + ["pending", "cancelled", "returned"]
STATUS_SPELLINGS = {
    "delivered": ["delivered", "Delivered", "DELIVERED"],
    "cancelled": ["cancelled", "Cancelled"],
}

REVIEW_TEXTS = [
    "Could not put it down.",
    "Slow start, great ending.",
    "Not for me.",
    "A gift, they loved it.",
    "Beautifully written.",
    "Arrived damaged but the story is good.",
    "Overrated.",
    "Read it twice.",
]


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _insert_catalogue(conn: sqlite3.Connection, rng: random.Random) -> list[tuple[int, float]]:
    conn.executemany("INSERT INTO genres (genre_id, name) VALUES (?, ?)", list(enumerate(GENRES, 1)))
    conn.executemany(
        "INSERT INTO publishers (publisher_id, name, city, country, founded_year) VALUES (?, ?, ?, ?, ?)",
        [(i, *row) for i, row in enumerate(PUBLISHERS, 1)],
    )
    authors: list[tuple[int, str, str, int | None, str | None]] = []
    for author_id in range(1, 91):
        birth_year = rng.randint(1935, 1995) if rng.random() < 0.85 else None
        nationality = rng.choice(NATIONALITIES) if rng.random() < 0.9 else None
        authors.append((author_id, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), birth_year, nationality))
    conn.executemany("INSERT INTO authors VALUES (?, ?, ?, ?, ?)", authors)

    books: list[tuple[int, float]] = []
    book_id = 0
    for work in range(320):
        title = rng.choice(TITLE_PATTERNS).format(adj=rng.choice(TITLE_ADJECTIVES), noun=rng.choice(TITLE_NOUNS))
        genre_id = rng.randint(1, len(GENRES))
        publisher_id = rng.randint(1, len(PUBLISHERS)) if rng.random() < 0.92 else None
        published = _random_date(rng, dt.date(1995, 1, 1), dt.date(2024, 10, 31))
        base_price = rng.uniform(7.0, 32.0)
        pages = rng.randint(90, 780) if rng.random() < 0.93 else None
        language = rng.choice(LANGUAGES)
        writers = rng.sample(range(1, 91), rng.choice([1, 1, 1, 1, 2, 2, 3]))
        # Some works come out in two formats: two catalogue rows with the same title.
        formats = rng.sample(["Hardcover", "Paperback", "Ebook"], 2) if rng.random() < 0.15 else [rng.choice(FORMATS)]
        for fmt in formats:
            book_id += 1
            price = round(base_price * {"Hardcover": 1.6, "Paperback": 1.0, "Ebook": 0.7}[fmt], 2)
            isbn = f"978{rng.randint(0, 9)}{work:04d}{book_id:05d}"
            conn.execute(
                "INSERT INTO books VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (book_id, isbn, title, genre_id, publisher_id, _iso(published), price, pages, language, fmt),
            )
            conn.executemany(
                "INSERT INTO book_authors VALUES (?, ?, ?)",
                [(book_id, author_id, pos) for pos, author_id in enumerate(writers, 1)],
            )
            books.append((book_id, price))
    return books


def _insert_customers(conn: sqlite3.Connection, rng: random.Random) -> int:
    count = 260
    for customer_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}{customer_id}@example.com" if rng.random() < 0.88 else None
        city = rng.choice(CITIES)
        city = rng.choice(CITY_SPELLINGS.get(city, [city]))
        joined = _random_date(rng, dt.date(2018, 1, 1), dt.date(2023, 12, 31))
        conn.execute(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
            (customer_id, first, last, email, city, joined.strftime("%d/%m/%Y")),
        )
    return count


def _insert_orders(
    conn: sqlite3.Connection, rng: random.Random, books: list[tuple[int, float]], customers: int
) -> None:
    review_id = 0
    for order_id in range(1, 951):
        customer_id = rng.randint(1, customers)
        ordered = _random_date(rng, dt.date(2021, 1, 1), dt.date(2024, 12, 31))
        status = rng.choice(STATUSES)
        status = rng.choice(STATUS_SPELLINGS.get(status, [status]))
        fee = rng.choice([0.0, 0.0, 2.99, 3.49, 4.99])
        conn.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", (order_id, customer_id, _iso(ordered), status, fee))
        for book_id, price in rng.sample(books, rng.choice([1, 1, 1, 2, 2, 3, 4])):
            discount = rng.choice([1.0, 1.0, 1.0, 0.9, 0.8])
            quantity = rng.choice([1, 1, 1, 1, 2, 3])
            conn.execute(
                "INSERT INTO order_items VALUES (?, ?, ?, ?)",
                (order_id, book_id, quantity, round(price * discount, 2)),
            )
            if status.lower() == "delivered" and rng.random() < 0.45:
                review_id += 1
                written = ordered + dt.timedelta(days=rng.randint(5, 120))
                text = rng.choice(REVIEW_TEXTS) if rng.random() < 0.6 else None
                rating = rng.choice([1, 2, 3, 3, 4, 4, 4, 5, 5, 5])
                conn.execute(
                    "INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?)",
                    (review_id, book_id, customer_id, rating, _iso(written), text),
                )


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the bookshop; all randomness comes from ``rng``."""
    books = _insert_catalogue(conn, rng)
    customers = _insert_customers(conn, rng)
    _insert_orders(conn, rng, books, customers)
