"""Rows for ``observatory``: telescopes, instruments, proposals, targets and two years of observations."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta

SITES = [
    # name, country, altitude in metres, latitude, longitude
    ("Cerro Alcántara", "Chile", 2635, -24.598, -70.404),
    ("Roque del Viento", "Spain", 2396, 28.756, -17.892),
    ("Mauna Halepo", "United States", 4205, 19.823, -155.469),
]

TELESCOPES = [
    # name, site index, aperture in metres, mount, first light
    ("Meridian Large Telescope", 0, 8.2, "alt-az", "2004-11-06"),
    ("Alcántara Survey Telescope", 0, 2.6, "alt-az", "2012-03-19"),
    ("Viento 4m", 1, 4.2, "alt-az", "1987-06-30"),
    ("Viento Robotic Telescope", 1, 1.0, "equatorial", None),
    ("Halepo Infrared Telescope", 2, 3.8, "equatorial", "1991-09-12"),
    ("Halepo Twin North", 2, 1.3, "equatorial", "2019-02-02"),
    ("Halepo Twin South", 2, 1.3, "equatorial", "2019-02-03"),
]

INSTRUMENTS = [
    # telescope index, name, kind, min and max wavelength (nm), retired
    (0, "MLT-CAM", "imager", 330, 1000, 0),
    (0, "ECHELON", "spectrograph", 380, 900, 0),
    (0, "NIRSPEC-M", "spectrograph", 950, 2500, 0),
    (1, "WideEye", "imager", 320, 1050, 0),
    (2, "V4-Imager", "imager", 350, 950, 0),
    (2, "LoRes Spectrograph", "spectrograph", 360, 1000, 1),
    (2, "HiRes Spectrograph", "spectrograph", 380, 690, 0),
    (3, "RoboPhot", "photometer", 340, 900, 0),
    (4, "IRCAM-3", "imager", 1000, 5000, 0),
    (4, "IRSPEC", "spectrograph", 1000, 2500, 0),
    (5, "TwinCam N", "imager", 400, 900, 0),
    (6, "TwinCam S", "imager", 400, 900, 0),
]

INSTITUTIONS = [
    ("Universidad de Chile", "Chile"),
    ("Leiden Observatory", "Netherlands"),
    ("University of Cambridge", "United Kingdom"),
    ("Max Planck Institute for Astronomy", "Germany"),
    ("Instituto de Astrofísica de Canarias", "Spain"),
    ("University of Hawaiʻi", "United States"),
    ("Caltech", "United States"),
    ("Kyoto University", "Japan"),
    ("Observatoire de Paris", "France"),
    ("University of Cape Town", "South Africa"),
    ("INAF Padova", "Italy"),
]
FIRST_NAMES = [
    "Ana",
    "Bram",
    "Chen",
    "Dolores",
    "Emil",
    "Fatou",
    "Gustavo",
    "Hanna",
    "Ikaika",
    "Jun",
    "Katarina",
    "Lorenzo",
    "Maya",
    "Nils",
    "Olga",
    "Pedro",
    "Qiu",
    "Rafaela",
    "Sipho",
    "Tess",
    "Ulrich",
    "Vera",
    "Wiremu",
    "Ximena",
    "Yuki",
    "Zanele",
    "Arjun",
    "Beatriz",
    "Colm",
    "Daphne",
]
LAST_NAMES = [
    "Alvarez",
    "de Vries",
    "Wang",
    "Hughes",
    "Schäfer",
    "Diop",
    "Pereira",
    "Lindahl",
    "Kahananui",
    "Saito",
    "Novak",
    "Bianchi",
    "Goldberg",
    "Andersen",
    "Ivanova",
    "Ramírez",
    "Zhang",
    "Costa",
    "Nkosi",
    "McKenzie",
    "Brandt",
    "Moreau",
    "Tane",
    "Quispe",
    "Morimoto",
    "Dlamini",
    "Rao",
    "Fonseca",
    "O'Sullivan",
    "Leclerc",
]

SCIENCE_AREAS = [
    ("Galaxies", ["galaxy", "quasar"]),
    ("Stellar physics", ["star", "star cluster"]),
    ("Exoplanets", ["exoplanet host"]),
    ("Interstellar medium", ["nebula"]),
    ("Cosmology", ["quasar", "galaxy"]),
]
TITLE_TEMPLATES = {
    "Galaxies": [
        "Star formation in nearby spirals",
        "Kinematics of dwarf galaxies",
        "Tidal streams around {c} galaxies",
    ],
    "Stellar physics": ["Variability of giant stars in {c}", "Ages of open clusters", "Binary stars in {c}"],
    "Exoplanets": [
        "Transit timing of hot Jupiters",
        "Radial velocities of nearby M dwarfs",
        "Atmospheres of warm Neptunes",
    ],
    "Interstellar medium": ["Shock fronts in {c} nebulae", "Dust in planetary nebulae", "Ionised gas mapping"],
    "Cosmology": ["Lensed quasars as time-delay probes", "Redshifts of faint galaxies", "Quasar absorption lines"],
}
CONSTELLATIONS = [
    "Orion",
    "Cygnus",
    "Sagittarius",
    "Centaurus",
    "Carina",
    "Virgo",
    "Ursa Major",
    "Andromeda",
    "Scorpius",
    "Lyra",
    "Perseus",
    "Cassiopeia",
    "Hercules",
    "Leo",
    "Dorado",
    "Tucana",
]
TARGET_PREFIX = {
    "galaxy": "NGC",
    "star": "HD",
    "nebula": "NGC",
    "star cluster": "NGC",
    "quasar": "QSO J",
    "exoplanet host": "TOI-",
}
CYCLES = [
    ("2022A", date(2022, 2, 1)),
    ("2022B", date(2022, 8, 1)),
    ("2023A", date(2023, 2, 1)),
    ("2023B", date(2023, 8, 1)),
]
TECHNICIANS = ["R. Ojeda", "M. Kealoha", "S. Hernández", "T. Brenner", "L. Acosta", "P. Nakoa"]


def _targets(conn: sqlite3.Connection, rng: random.Random) -> dict[str, list[int]]:
    by_type: dict[str, list[int]] = {kind: [] for kind in TARGET_PREFIX}
    used_names: dict[str, int] = {}
    kinds = list(TARGET_PREFIX)
    for target_id in range(1, 241):
        kind = rng.choices(kinds, weights=[30, 25, 10, 12, 10, 13])[0]
        while True:
            if kind == "quasar":
                name = (
                    f"QSO J{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}{rng.choice('+-')}{rng.randint(0, 89):02d}"
                )
            elif kind == "exoplanet host":
                name = f"TOI-{rng.randint(100, 5999)}"
            else:
                name = f"{TARGET_PREFIX[kind]} {rng.randint(100, 7999 if kind != 'star' else 240000)}"
            if name not in used_names:
                used_names[name] = target_id
                break
        magnitude = None if rng.random() < 0.07 else round(rng.uniform(4.0, 19.5 if kind == "quasar" else 15.0), 2)
        conn.execute(
            "INSERT INTO targets VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                target_id,
                name,
                kind,
                round(rng.uniform(0, 360), 4),
                round(rng.uniform(-85, 60), 4),
                magnitude,
                rng.choice(CONSTELLATIONS),
            ),
        )
        by_type[kind].append(target_id)
    return by_type


def _astronomers(conn: sqlite3.Connection, rng: random.Random, count: int) -> None:
    for astronomer_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        institution, country = rng.choice(INSTITUTIONS)
        email = (
            None
            if rng.random() < 0.15
            else f"{first[0].lower()}.{last.lower().replace(' ', '').replace(chr(39), '')}@astro.example.org"
        )
        stage = rng.choices(["student", "postdoc", "faculty", "staff"], weights=[25, 30, 35, 10])[0]
        conn.execute(
            "INSERT INTO astronomers VALUES (?, ?, ?, ?, ?, ?)",
            (astronomer_id, f"{first} {last}", institution, country, email, stage),
        )


def _observe(
    conn: sqlite3.Connection,
    rng: random.Random,
    proposal_id: int,
    cycle_start: date,
    hours: float,
    targets: list[int],
    instruments: list[int],
) -> None:
    remaining = hours * 3600
    while remaining > 0:
        exposure = float(rng.choice([60, 120, 300, 600, 900, 1200, 1800, 2400, 3600]))
        night = cycle_start + timedelta(days=rng.randint(0, 180))
        seeing = None if rng.random() < 0.05 else round(rng.lognormvariate(-0.1, 0.35), 2)
        quality = "good"
        if seeing is not None and seeing > 1.6:
            quality = "bad" if rng.random() < 0.6 else "marginal"
        elif rng.random() < 0.12:
            quality = "marginal"
        start = rng.randint(0, 10 * 3600)
        conn.execute(
            "INSERT INTO observations (proposal_id, target_id, instrument_id, obs_date, start_utc, exposure_s,"
            " seeing_arcsec, airmass, quality) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                proposal_id,
                rng.choice(targets),
                rng.choice(instruments),
                night.isoformat(),
                f"{start // 3600:02d}:{start % 3600 // 60:02d}:{start % 60:02d}",
                exposure,
                seeing,
                round(1.0 + rng.random() ** 2 * 1.2, 2),
                quality,
            ),
        )
        remaining -= exposure


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the observatory into ``conn`` (schema already created)."""
    for site_id, row in enumerate(SITES, 1):
        conn.execute("INSERT INTO sites VALUES (?, ?, ?, ?, ?, ?)", (site_id, *row))
    for telescope_id, (name, site, aperture, mount, first_light) in enumerate(TELESCOPES, 1):
        conn.execute(
            "INSERT INTO telescopes VALUES (?, ?, ?, ?, ?, ?)",
            (telescope_id, name, site + 1, aperture, mount, first_light),
        )
    for instrument_id, (telescope, name, kind, low, high, retired) in enumerate(INSTRUMENTS, 1):
        conn.execute(
            "INSERT INTO instruments VALUES (?, ?, ?, ?, ?, ?, ?)",
            (instrument_id, telescope + 1, name, kind, float(low), float(high), retired),
        )
    n_astronomers = 140
    _astronomers(conn, rng, n_astronomers)
    by_type = _targets(conn, rng)
    active_instruments = [i for i, row in enumerate(INSTRUMENTS, 1) if not row[5]]
    proposal_id = 0
    for cycle, cycle_start in CYCLES:
        for number in range(1, rng.randint(28, 36) + 1):
            proposal_id += 1
            area, kinds = rng.choice(SCIENCE_AREAS)
            title = rng.choice(TITLE_TEMPLATES[area]).replace("{c}", rng.choice(CONSTELLATIONS))
            requested = float(rng.choice([4, 6, 8, 10, 12, 16, 20, 24, 30, 40]))
            status = rng.choices(["accepted", "rejected", "withdrawn"], weights=[45, 50, 5])[0]
            awarded = round(requested * rng.choice([0.5, 0.75, 1.0, 1.0]), 1) if status == "accepted" else None
            submitted = cycle_start - timedelta(days=rng.randint(75, 120))
            pi_id = int(n_astronomers * rng.random() ** 1.6) + 1  # some PIs apply every cycle
            conn.execute(
                "INSERT INTO proposals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    proposal_id,
                    f"{cycle}-{number:03d}",
                    cycle,
                    pi_id,
                    title,
                    area,
                    requested,
                    awarded,
                    status,
                    submitted.isoformat(),
                ),
            )
            members = rng.sample(range(1, n_astronomers + 1), rng.randint(0, 5))
            for member in sorted(members):
                if member != pi_id:
                    conn.execute("INSERT INTO proposal_members VALUES (?, ?)", (proposal_id, member))
            if awarded is not None:
                pool = [t for kind in kinds for t in by_type[kind]]
                targets = rng.sample(pool, min(len(pool), rng.randint(1, 6)))
                instruments = rng.sample(active_instruments, rng.randint(1, 2))
                # Weather and overruns: observed time is close to, not exactly, the award.
                _observe(conn, rng, proposal_id, cycle_start, awarded * rng.uniform(0.6, 1.05), targets, instruments)
    for _ in range(90):
        telescope_id = rng.randint(1, len(TELESCOPES))
        logged = date(2022, 1, 1) + timedelta(days=rng.randint(0, 729))
        conn.execute(
            "INSERT INTO maintenance_log (telescope_id, logged, category, downtime_hours, technician)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                telescope_id,
                logged.strftime("%m/%d/%Y"),
                rng.choices(["mirror", "dome", "mount", "instrument", "cooling"], weights=[2, 3, 3, 4, 2])[0],
                round(rng.lognormvariate(1.5, 0.9), 1),
                rng.choice(TECHNICIANS),
            ),
        )
