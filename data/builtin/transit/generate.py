"""Rows for the transit database: network, fleet, staff, a year of trips and ticket sales."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3

DEPOTS = [
    ("Westfield Depot", "Westfield", 1968),
    ("Harbourside Depot", "Docklands", 1994),
    ("Northway Depot", "Northway", 2009),
    ("Tramworks Yard", "Old Town", 1921),
]
# route_code, name, mode, is_night
ROUTES = [
    ("1", "Central - Airport", "Bus", 0),
    ("4", "Old Town Circular", "Bus", 0),
    ("7", "Westfield - University", "Bus", 0),
    ("12", "Docklands - Hillcrest", "Bus", 0),
    ("15", "Northway - Market Square", "Bus", 0),
    ("22", "Riverside Express", "Bus", 0),
    ("31", "Hospital Link", "Bus", 0),
    ("N4", "Night Old Town", "Bus", 1),
    ("N7", "Night Westfield", "Bus", 1),
    ("T1", "Tram Line 1", "Tram", 0),
    ("T2", "Tram Line 2", "Tram", 0),
    ("T3", "Tram Line 3", "Tram", 0),
    ("F1", "Harbour Ferry", "Ferry", 0),
    ("F2", "Island Ferry", "Ferry", 0),
]
STOP_WORDS_A = [
    "Market",
    "Station",
    "Castle",
    "Mill",
    "Church",
    "Park",
    "Harbour",
    "College",
    "Bridge",
    "Museum",
    "Hospital",
    "Library",
    "Garden",
    "Quarry",
    "Ferry",
]
STOP_WORDS_B = ["Square", "Road", "Street", "Lane", "Gate", "Hill", "Terrace", "Pier", "Place"]
MODELS = {
    "Bus": [("Volta E12", 85), ("Citymaster 200", 90), ("Volta E10", 70)],
    "Tram": [("Lumen T5", 210), ("Lumen T7", 250)],
    "Ferry": [("Seabright 30", 150)],
}
FIRST_NAMES = [
    "Agnes",
    "Bilal",
    "Cora",
    "Declan",
    "Edith",
    "Fergus",
    "Greta",
    "Hamza",
    "Iris",
    "Jude",
    "Kasia",
    "Liam",
    "Mona",
    "Niall",
    "Orla",
    "Piotr",
    "Rosa",
    "Sean",
    "Tess",
    "Umar",
    "Vera",
    "Wes",
]
LAST_NAMES = [
    "Ashby",
    "Byrne",
    "Costa",
    "Doyle",
    "Evans",
    "Flynn",
    "Gomez",
    "Hughes",
    "Iqbal",
    "Jovanovic",
    "Keane",
    "Lowe",
    "Murphy",
    "Nolan",
    "Osei",
    "Patel",
    "Rourke",
    "Silva",
    "Tierney",
    "Walsh",
]
INCIDENT_CATEGORIES = [
    "Breakdown",
    "Passenger illness",
    "Traffic collision",
    "Fare dispute",
    "Vandalism",
    "Signal failure",
]
FARE_PRODUCTS = [
    ("Single", 2.2, 1),
    ("Day Pass", 6.5, 1),
    ("Weekly Pass", 24.0, 7),
    ("Monthly Pass", 85.0, 30),
    ("Student Monthly", 55.0, 30),
    ("Ferry Return", 7.8, 1),
]
PAYMENT_SPELLINGS = ["card", "card", "Card", "CARD", "cash", "Cash", "mobile", "mobile", "Mobile"]


def _insert_network(conn: sqlite3.Connection, rng: random.Random) -> dict[int, str]:
    conn.executemany("INSERT INTO depots VALUES (?, ?, ?, ?)", [(i, *d) for i, d in enumerate(DEPOTS, 1)])
    conn.executemany("INSERT INTO routes VALUES (?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(ROUTES, 1)])
    conn.executemany("INSERT INTO fare_products VALUES (?, ?, ?, ?)", [(i, *p) for i, p in enumerate(FARE_PRODUCTS, 1)])
    names = [f"{a} {b}" for a in STOP_WORDS_A for b in STOP_WORDS_B]
    chosen = rng.sample(names, 95)
    stop_id = 0
    for name in chosen:
        zone = rng.choice([1, 1, 2, 2, 2, 3, 3, 4])
        lat, lon = 53.35 + rng.uniform(-0.08, 0.08), -6.26 + rng.uniform(-0.12, 0.12)
        step_free = rng.choice([1, 1, 1, 0]) if rng.random() < 0.85 else None
        # Busy roads have a stop on each side: same name, separate stop rows.
        for _ in range(2 if rng.random() < 0.2 else 1):
            stop_id += 1
            conn.execute(
                "INSERT INTO stops VALUES (?, ?, ?, ?, ?, ?)",
                (
                    stop_id,
                    name,
                    zone,
                    round(lat + rng.uniform(-0.0005, 0.0005), 6),
                    round(lon + rng.uniform(-0.0005, 0.0005), 6),
                    step_free,
                ),
            )
    for route_id in range(1, len(ROUTES) + 1):
        length = rng.randint(8, 22) if ROUTES[route_id - 1][2] != "Ferry" else rng.randint(3, 5)
        for sequence, stop in enumerate(rng.sample(range(1, stop_id + 1), length), 1):
            conn.execute("INSERT INTO route_stops VALUES (?, ?, ?)", (route_id, sequence, stop))
    return {i: r[2] for i, r in enumerate(ROUTES, 1)}


def _insert_fleet(conn: sqlite3.Connection, rng: random.Random) -> tuple[dict[str, list[int]], int]:
    vehicles_by_mode: dict[str, list[int]] = {"Bus": [], "Tram": [], "Ferry": []}
    plan = [("Bus", 46), ("Tram", 14), ("Ferry", 4)]
    vehicle_id = 0
    for mode, count in plan:
        for _ in range(count):
            vehicle_id += 1
            model, capacity = rng.choice(MODELS[mode])
            depot_id = {"Bus": rng.choice([1, 2, 3]), "Tram": 4, "Ferry": 2}[mode]
            conn.execute(
                "INSERT INTO vehicles VALUES (?, ?, ?, ?, ?, ?, ?)",
                (vehicle_id, f"{mode[0]}{vehicle_id:03d}", model, mode, capacity, rng.randint(2008, 2024), depot_id),
            )
            vehicles_by_mode[mode].append(vehicle_id)
    drivers = 70
    for driver_id in range(1, drivers + 1):
        licensed = dt.date(1990, 1, 1) + dt.timedelta(days=rng.randint(0, 12000))
        conn.execute(
            "INSERT INTO drivers VALUES (?, ?, ?, ?, ?)",
            (
                driver_id,
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                rng.randint(1, 4),
                licensed.strftime("%d-%m-%Y"),
            ),
        )
    return vehicles_by_mode, drivers


def _insert_trips(
    conn: sqlite3.Connection,
    rng: random.Random,
    route_modes: dict[int, str],
    vehicles_by_mode: dict[str, list[int]],
    drivers: int,
) -> None:
    incident_id = 0
    first_day = dt.date(2024, 1, 1)
    for trip_id in range(1, 2401):
        route_id = rng.randint(1, len(route_modes))
        night = ROUTES[route_id - 1][3] == 1
        hour = rng.choice([0, 1, 2, 3, 23]) if night else rng.randint(6, 21)
        day = first_day + dt.timedelta(days=rng.randint(0, 365))
        cancelled = 1 if rng.random() < 0.04 else 0
        delay = None if cancelled or rng.random() < 0.07 else max(0, int(rng.gauss(3, 4)))
        conn.execute(
            "INSERT INTO trips VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                trip_id,
                route_id,
                rng.choice(vehicles_by_mode[route_modes[route_id]]),
                rng.randint(1, drivers),
                day.isoformat(),
                f"{hour:02d}:{rng.choice(range(0, 60, 5)):02d}",
                delay,
                cancelled,
            ),
        )
        if not cancelled and rng.random() < 0.05:
            incident_id += 1
            text = "Reported by driver." if rng.random() < 0.5 else None
            conn.execute(
                "INSERT INTO incidents VALUES (?, ?, ?, ?, ?)",
                (incident_id, trip_id, rng.choice(INCIDENT_CATEGORIES), rng.choice([1, 1, 1, 2, 2, 3]), text),
            )


def _insert_sales(conn: sqlite3.Connection, rng: random.Random) -> None:
    stops = int(conn.execute("SELECT count(*) FROM stops").fetchone()[0])
    for sale_id in range(1, 1801):
        product_id = rng.choice([1, 1, 1, 1, 2, 2, 3, 4, 5, 6])
        stop_id = rng.randint(1, stops) if rng.random() < 0.7 else None
        day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 365))
        quantity = rng.choice([1, 1, 1, 1, 2, 3]) if product_id in (1, 2, 6) else 1
        conn.execute(
            "INSERT INTO ticket_sales VALUES (?, ?, ?, ?, ?, ?)",
            (sale_id, product_id, stop_id, day.isoformat(), quantity, rng.choice(PAYMENT_SPELLINGS)),
        )


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the transit network; all randomness comes from ``rng``."""
    route_modes = _insert_network(conn, rng)
    vehicles_by_mode, drivers = _insert_fleet(conn, rng)
    _insert_trips(conn, rng, route_modes, vehicles_by_mode, drivers)
    _insert_sales(conn, rng)
