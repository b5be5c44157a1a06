"""Rows for ``film_festival``: seven editions of a festival, its films, people, screenings and reviews."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from itertools import product
from typing import TypeVar

T = TypeVar("T")

EDITIONS = [
    # year, start date, theme, online only
    (2018, "2018-09-20", "Borders", 0),
    (2019, "2019-09-19", None, 0),
    (2020, "2020-10-01", "Distance", 1),
    (2021, "2021-09-23", "Return", 0),
    (2022, "2022-09-22", None, 0),
    (2023, "2023-09-21", "Machines and Memory", 0),
    (2024, "2024-09-19", "Water", 0),
]
FESTIVAL_DAYS = 10

VENUES = [
    # name, district, seats, is_outdoor
    ("Palais Lumière", "Old Harbour", 1180, 0),
    ("Cinema Aurora", "Old Harbour", 420, 0),
    ("The Bijou", "Westend", 160, 0),
    ("Kino Nord", "Northbank", 310, 0),
    ("Harbour Open Air", "Old Harbour", 2500, 1),
    ("Studio 7 at the Arts Centre", "University Quarter", 95, 0),
]

SECTIONS = [
    # section, films per edition
    ("Main Competition", 12),
    ("Panorama", 10),
    ("Documentary", 6),
    ("Shorts", 8),
    ("Midnight", 4),
    ("Retrospective", 3),
]

GENRES_BY_SECTION = {
    "Main Competition": [("Drama", 6), ("Comedy", 1), ("Thriller", 2), ("Romance", 1), ("Science Fiction", 1)],
    "Panorama": [("Drama", 4), ("Comedy", 3), ("Romance", 2), ("Animation", 1), ("Thriller", 1)],
    "Documentary": [("Documentary", 1)],
    "Shorts": [("Drama", 3), ("Animation", 3), ("Comedy", 2), ("Documentary", 1)],
    "Midnight": [("Horror", 3), ("Thriller", 1), ("Science Fiction", 1)],
    "Retrospective": [("Drama", 2), ("Comedy", 1), ("Thriller", 1)],
}

COUNTRIES = [
    # country, language, weight
    ("France", "French", 9),
    ("United States", "English", 8),
    ("United Kingdom", "English", 5),
    ("Germany", "German", 5),
    ("Italy", "Italian", 4),
    ("Japan", "Japanese", 4),
    ("South Korea", "Korean", 3),
    ("Mexico", "Spanish", 3),
    ("Argentina", "Spanish", 2),
    ("Iran", "Persian", 2),
    ("Denmark", "Danish", 2),
    ("Poland", "Polish", 2),
    ("Nigeria", "English", 2),
    ("Brazil", "Portuguese", 2),
    ("India", "Hindi", 2),
    ("Senegal", "French", 1),
    ("Norway", "Norwegian", 1),
    ("Taiwan", "Mandarin", 1),
]

TITLE_OPENINGS = [
    "The Silent",
    "A Long",
    "The Last",
    "Our",
    "The Glass",
    "Small",
    "The Other",
    "Burning",
    "Northern",
    "The Quiet",
    "Paper",
    "The Hollow",
    "Winter",
    "The Red",
    "Midnight",
    "Distant",
    "The Salt",
    "Borrowed",
    "Seven",
    "The Broken",
    "Golden",
    "The Lost",
    "Electric",
    "The Drowned",
    "Wild",
]
TITLE_ENDINGS = [
    "Harbour",
    "Summer",
    "Daughters",
    "Lanterns",
    "River",
    "Season",
    "Orchard",
    "Machines",
    "Border",
    "Garden",
    "Hours",
    "Tide",
    "Letters",
    "Mountain",
    "Bridge",
    "Kingdom",
    "Wolves",
    "Island",
    "Mirror",
    "Station",
    "Sisters",
    "Fields",
    "Years",
    "Neighbours",
    "Light",
]

FIRST_NAMES = [
    "Agnès",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Elena",
    "Farhad",
    "Greta",
    "Hiroshi",
    "Ines",
    "Jonas",
    "Kasia",
    "Lucía",
    "Malik",
    "Nadia",
    "Oscar",
    "Paulina",
    "Quentin",
    "Rosa",
    "Sven",
    "Tamar",
    "Umberto",
    "Valeria",
    "Wei",
    "Xavier",
    "Yara",
    "Zoltan",
    "Amara",
    "Bastien",
    "Carmen",
    "Deniz",
    "Emeka",
    "Freya",
    "Gael",
    "Hana",
    "Ivo",
    "Julia",
    "Kenji",
    "Leila",
    "Mateus",
    "Noor",
    "Olu",
    "Pia",
    "Ravi",
    "Sofia",
    "Tomasz",
]
LAST_NAMES = [
    "Moreau",
    "Rossi",
    "Kowalczyk",
    "Tanaka",
    "Okoye",
    "Larsen",
    "Hosseini",
    "García",
    "Schneider",
    "Park",
    "Dubois",
    "Silva",
    "Novak",
    "Mendoza",
    "O'Connell",
    "van der Berg",
    "McGregor",
    "Haddad",
    "Lindgren",
    "Adeyemi",
    "Ferrante",
    "Nakamura",
    "Kaur",
    "Weiss",
    "Santos",
    "Dahl",
    "Ito",
    "Costa",
    "Mbaye",
    "Fontaine",
    "Kim",
    "Romero",
    "Hartmann",
    "Chen",
    "Petrova",
    "de la Cruz",
    "Lund",
    "Sato",
]

CRITICS = [
    # critic name, outlet
    ("Margot Ellery", "The Daily Reel"),
    ("Sam Okafor", "The Daily Reel"),
    ("Priya Natarajan", "Screen Weekly"),
    ("Lukas Brandt", "Screen Weekly"),
    ("Helen Achterberg", "CINEMAGAZINE"),
    ("Tom Whitcombe", "the lantern"),
    ("Ana Beltrán", "Fotograma Sur"),
    ("Kofi Asante", "Frame & Sound"),
    ("Julie Marchetti", "Frame & Sound"),
    ("Ryo Fujimoto", "Eiga Review"),
    ("Greta Nilsson", "Nordic Film Journal"),
    ("David Kessler", "Variety Hall"),
    ("Ines Duarte", "CINEMAGAZINE"),
    ("Mark Oyelaran", "indieWire Digest"),
    ("Claire Fontanel", "Les Cahiers Libres"),
]

START_TIMES = ["10:00", "12:30", "14:00", "15:15", "17:00", "18:30", "19:45", "21:00", "22:30", "23:59"]


def _weighted(rng: random.Random, pairs: list[tuple[T, int]]) -> T:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


class _People:
    """Pools of directors, writers, actors and producers, drawn so some people recur across films."""

    def __init__(self, conn: sqlite3.Connection, rng: random.Random) -> None:
        self.conn = conn
        self.rng = rng
        names = [f"{first} {last}" for first, last in product(FIRST_NAMES, LAST_NAMES)]
        rng.shuffle(names)
        self.unused_names = names
        self.pools: dict[str, list[int]] = {"director": [], "writer": [], "actor": [], "producer": []}
        self.next_id = 1

    def _new(self, role: str) -> int:
        rng = self.rng
        person_id = self.next_id
        self.next_id += 1
        birth_year = None if rng.random() < 0.12 else rng.randint(1938, 2001)
        country = _weighted(rng, [(c[0], c[2]) for c in COUNTRIES])
        self.conn.execute(
            "INSERT INTO people VALUES (?, ?, ?, ?)", (person_id, self.unused_names.pop(), birth_year, country)
        )
        self.pools[role].append(person_id)
        return person_id

    def pick(self, role: str, reuse: float) -> int:
        pool = self.pools[role]
        if pool and self.rng.random() < reuse:
            # Earlier people are favoured, so a handful of names come back again and again.
            return pool[int(len(pool) * self.rng.random() ** 1.3)]
        return self._new(role)


def _title(rng: random.Random, used: dict[str, int]) -> str:
    while True:
        title = f"{rng.choice(TITLE_OPENINGS)} {rng.choice(TITLE_ENDINGS)}"
        if title not in used:
            used[title] = 1
            return title


def _add_film(
    conn: sqlite3.Connection,
    rng: random.Random,
    people: _People,
    film_id: int,
    section: str,
    year: int,
    titles: dict[str, int],
) -> None:
    genre = _weighted(rng, GENRES_BY_SECTION[section])
    country, language, _ = rng.choices(COUNTRIES, weights=[c[2] for c in COUNTRIES])[0]
    if section == "Retrospective":
        release_year = rng.randint(1952, 1994)
    else:
        release_year = year if rng.random() < 0.8 else year - 1
    runtime = rng.randint(7, 39) if section == "Shorts" else int(rng.gauss(108, 18))
    budget = None if rng.random() < 0.3 else round(rng.lognormvariate(14.5, 1.0), -3)
    if section in ("Shorts", "Documentary") and budget is not None:
        budget = round(budget / 10, -3)
    conn.execute(
        "INSERT INTO films VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (film_id, _title(rng, titles), release_year, runtime, country, language, genre, budget),
    )
    credits: list[tuple[int, str]] = []
    directors = [people.pick("director", 0.3)]
    if rng.random() < 0.08:
        directors.append(people.pick("director", 0.2))
    credits += [(d, "director") for d in directors]
    if rng.random() < 0.55:
        credits.append((directors[0], "writer"))
    if rng.random() < 0.7:
        credits.append((people.pick("writer", 0.3), "writer"))
    if genre != "Documentary":
        for _ in range(rng.randint(2, 5)):
            credits.append((people.pick("actor", 0.45), "actor"))
    for _ in range(rng.randint(1, 2)):
        credits.append((people.pick("producer", 0.6), "producer"))
    for person_id, role in credits:
        conn.execute("INSERT OR IGNORE INTO film_credits VALUES (?, ?, ?)", (film_id, person_id, role))


def _screenings(
    conn: sqlite3.Connection,
    rng: random.Random,
    edition_id: int,
    film_id: int,
    start: date,
    online: int,
    popularity: float,
) -> None:
    for _ in range(rng.randint(2, 4)):
        day = start + timedelta(days=rng.randint(0, FESTIVAL_DAYS - 1))
        if online:
            venue_id, seats = None, 900
        else:
            venue_id = rng.randint(1, len(VENUES))
            seats = VENUES[venue_id - 1][2]
        sold = min(seats, int(seats * rng.uniform(0.35, 1.0) * popularity))
        conn.execute(
            "INSERT INTO screenings (edition_id, film_id, venue_id, screening_date, start_time, tickets_sold)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (edition_id, film_id, venue_id, day.isoformat(), rng.choice(START_TIMES), sold),
        )


def _credited(conn: sqlite3.Connection, film_id: int, role: str) -> list[int]:
    rows = conn.execute(
        "SELECT person_id FROM film_credits WHERE film_id = ? AND role = ? ORDER BY person_id", (film_id, role)
    ).fetchall()
    return [int(r[0]) for r in rows]


def _awards(conn: sqlite3.Connection, rng: random.Random, edition_id: int, by_section: dict[str, list[int]]) -> None:
    competition = list(by_section["Main Competition"])
    rng.shuffle(competition)
    winners: list[tuple[str, int, int | None]] = [
        ("Golden Lantern", competition[0], None),
        ("Grand Jury Prize", competition[1], None),
    ]
    director_film = competition[2] if rng.random() < 0.6 else competition[0]
    winners.append(("Best Director", director_film, _credited(conn, director_film, "director")[0]))
    actor_film = rng.choice(competition[:6])
    winners.append(("Best Performance", actor_film, rng.choice(_credited(conn, actor_film, "actor"))))
    writer_film = rng.choice([f for f in competition if _credited(conn, f, "writer")])
    winners.append(("Best Screenplay", writer_film, _credited(conn, writer_film, "writer")[0]))
    winners.append(("Best Documentary", rng.choice(by_section["Documentary"]), None))
    winners.append(("Best Short Film", rng.choice(by_section["Shorts"]), None))
    audience_pool = by_section["Main Competition"] + by_section["Panorama"] + by_section["Documentary"]
    winners.append(("Audience Award", rng.choice(audience_pool), None))
    for category, film_id, person_id in winners:
        conn.execute(
            "INSERT INTO awards (edition_id, category, film_id, person_id) VALUES (?, ?, ?, ?)",
            (edition_id, category, film_id, person_id),
        )


def _reviews(conn: sqlite3.Connection, rng: random.Random, film_id: int, start: date, quality: float) -> None:
    count = rng.randint(0, 2) if quality < 0 else rng.randint(1, 6)
    for critic_name, outlet in rng.sample(CRITICS, count):
        stars = min(5.0, max(0.5, round((3.0 + abs(quality) + rng.gauss(0, 0.8)) * 2) / 2))
        published = start + timedelta(days=rng.randint(0, FESTIVAL_DAYS + 20))
        conn.execute(
            "INSERT INTO reviews (film_id, critic_name, outlet, rating, published_on) VALUES (?, ?, ?, ?, ?)",
            (film_id, critic_name, outlet, stars, published.isoformat()),
        )


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the film festival into ``conn`` (schema already created)."""
    for venue_id, row in enumerate(VENUES, 1):
        conn.execute("INSERT INTO venues VALUES (?, ?, ?, ?, ?)", (venue_id, *row))
    people = _People(conn, rng)
    titles: dict[str, int] = {}
    film_id = 0
    for edition_id, (year, start_text, theme, online) in enumerate(EDITIONS, 1):
        start = date.fromisoformat(start_text)
        end = start + timedelta(days=FESTIVAL_DAYS - 1)
        conn.execute(
            "INSERT INTO editions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (edition_id, year, edition_id + 10, start_text, end.isoformat(), theme, online),
        )
        by_section: dict[str, list[int]] = {}
        for section, count in SECTIONS:
            by_section[section] = []
            for _ in range(count):
                film_id += 1
                _add_film(conn, rng, people, film_id, section, year, titles)
                premiere = 1 if section != "Retrospective" and rng.random() < 0.4 else 0
                conn.execute("INSERT INTO selections VALUES (?, ?, ?, ?)", (edition_id, film_id, section, premiere))
                # Quality below zero marks a film few critics bothered with; its magnitude lifts ratings.
                quality = rng.gauss(0.0, 1.0) if section != "Retrospective" else abs(rng.gauss(1.2, 0.4))
                popularity = 1.3 if section in ("Main Competition", "Midnight") else 1.0
                _screenings(conn, rng, edition_id, film_id, start, online, popularity)
                _reviews(conn, rng, film_id, start, quality)
                by_section[section].append(film_id)
        _awards(conn, rng, edition_id, by_section)
