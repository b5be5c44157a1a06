"""Rows for ``football_league``: twelve clubs, three seasons of fixtures, goals and cards."""

from __future__ import annotations

import math
import random
import sqlite3
from datetime import date, timedelta

STADIUMS = [
    # name, city, capacity, surface, opened_on
    ("Riverside Park", "Northam", 41200, "grass", "1923-08-25"),
    ("The Foundry", "Castleford Bay", 28350, "hybrid", "1998-07-31"),
    ("Kingsmead Arena", "Westbridge", 52100, "hybrid", "2006-09-02"),
    ("St. Aldric's Ground", "Ashworth", 18900, "grass", None),
    ("Harbour Road", "Portsea Vale", 23475, "grass", "1911-04-15"),
    ("Millfield Stadium", "Millfield", 33800, "artificial", "2014-08-09"),
    ("Copperhill Stadium", "Northam", 36500, "hybrid", "1972-10-07"),
    ("Lakeside Community Stadium", "Elmstead", 15600, "artificial", "2011-07-23"),
    ("The Old Orchard", "Kelbrook", 21040, "grass", None),
    ("Victoria Ground", "Dunmore", 30150, "grass", "1935-03-16"),
    ("Eastgate Park", "Redcliffe", 26700, "hybrid", "1988-08-20"),
]

CLUBS = [
    # name, short_name, city, founded_year, stadium index, kit colour
    ("Northam City FC", "NCY", "Northam", 1887, 0, "sky blue"),
    ("Castleford Bay Athletic", "CBA", "Castleford Bay", 1902, 1, "red"),
    ("Westbridge United", "WBU", "Westbridge", 1879, 2, "white"),
    ("Ashworth Rovers", "ASR", "Ashworth", 1894, 3, "green"),
    ("Portsea Vale FC", "PVF", "Portsea Vale", 1899, 4, "navy"),
    ("Millfield Town", "MFT", "Millfield", 1921, 5, "orange"),
    ("Northam Wanderers", "NWA", "Northam", 1903, 6, "black"),
    ("Elmstead Sporting", "ELS", "Elmstead", 1946, 7, None),
    ("Kelbrook Albion", "KAL", "Kelbrook", 1885, 8, "claret"),
    ("Dunmore Harriers", "DHA", "Dunmore", 1890, 9, "yellow"),
    ("Redcliffe Borough", "RCB", "Redcliffe", 1912, 10, "maroon"),
    ("Castleford Bay Corinthians", "CBC", "Castleford Bay", 1951, 1, "purple"),
]

# Relative attacking strength of each club (same order as CLUBS); shapes a believable table.
STRENGTH = [1.45, 1.2, 1.35, 0.8, 0.95, 1.0, 1.25, 0.75, 0.9, 1.05, 0.85, 0.7]

SEASONS = [
    ("2021/22", "2021-08-07", "2022-05-22"),
    ("2022/23", "2022-08-06", "2023-05-28"),
    ("2023/24", "2023-08-12", "2024-05-19"),
]

FIRST_NAMES = [
    "James",
    "Luca",
    "Mateo",
    "Oliver",
    "Noah",
    "Kwame",
    "Yusuf",
    "Erik",
    "Tomás",
    "Diego",
    "Kenji",
    "Samuel",
    "Aaron",
    "Jonas",
    "Pierre",
    "Marco",
    "Ibrahim",
    "Ryan",
    "Callum",
    "Sean",
    "Bruno",
    "Felix",
    "Daniel",
    "Kai",
    "Rafael",
    "Emeka",
    "Lars",
    "Hugo",
    "Nathan",
    "Theo",
    "Jamal",
    "Andrés",
    "Liam",
    "Mohammed",
    "Ciaran",
    "Dominik",
    "Sergio",
    "Elliot",
    "Jude",
    "Moussa",
    "Tariq",
    "Adam",
]
LAST_NAMES = [
    "Smith",
    "Okafor",
    "Rossi",
    "Jensen",
    "O'Brien",
    "McAllister",
    "van Dijkstra",
    "García",
    "Silva",
    "Novak",
    "Tanaka",
    "Mensah",
    "Dubois",
    "Schmidt",
    "Fernandes",
    "Kowalski",
    "Hughes",
    "MacLeod",
    "de Jong",
    "Eriksen",
    "Haddad",
    "Walsh",
    "Petrov",
    "Diallo",
    "Lindqvist",
    "Moreno",
    "Byrne",
    "Achebe",
    "Ferreira",
    "Whitfield",
    "Sato",
    "Kane",
    "Bergström",
    "D'Angelo",
    "Murphy",
    "Costa",
    "Traoré",
    "Nakamura",
    "Fitzgerald",
    "Hartley",
    "LeBlanc",
    "Young",
    "Ndiaye",
    "Carvalho",
]
NATIONALITIES = [
    ("England", 30),
    ("Scotland", 6),
    ("Ireland", 6),
    ("Wales", 4),
    ("France", 6),
    ("Spain", 5),
    ("Portugal", 4),
    ("Brazil", 5),
    ("Nigeria", 4),
    ("Ghana", 3),
    ("Netherlands", 4),
    ("Germany", 4),
    ("Denmark", 3),
    ("Sweden", 3),
    ("Japan", 2),
    ("Senegal", 3),
    ("Italy", 3),
    ("Poland", 2),
]
POSITIONS = ["Goalkeeper", "Defender", "Midfielder", "Forward"]
SQUAD_SHAPE = ["Goalkeeper"] * 3 + ["Defender"] * 8 + ["Midfielder"] * 8 + ["Forward"] * 5
SCORING_WEIGHT = {"Goalkeeper": 0, "Defender": 1, "Midfielder": 3, "Forward": 7}

REFEREES = [
    ("Martin Cole", "Northam"),
    ("Gareth Pryce", "Dunmore"),
    ("Siobhan Reilly", "Kelbrook"),
    ("Anil Kapoor", "Westbridge"),
    ("Thomas Hale", "Millfield"),
    ("Rebecca Stone", "Redcliffe"),
    ("David McKenna", "Ashworth"),
    ("Paul Okoro", "Portsea Vale"),
    ("Harriet Lowe", "Elmstead"),
    ("Ian Fairbairn", "Castleford Bay"),
]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: enough for small means, and it draws only from rng.
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


class _Roster:
    """Players, their contracts, and who plays where at the start of each season."""

    def __init__(self, conn: sqlite3.Connection, rng: random.Random) -> None:
        self.conn = conn
        self.rng = rng
        self.position: dict[int, str] = {}
        self.finishing: dict[int, float] = {}  # a few players score far more than the rest
        self.open_contract: dict[int, tuple[int, int]] = {}  # player -> (contract_id, club_id)
        self.next_player = 1
        self.next_contract = 1

    def new_player(self, position: str, season_year: int) -> int:
        rng = self.rng
        player_id = self.next_player
        self.next_player += 1
        age_days = rng.randint(17 * 365, 35 * 365)
        birth = date(season_year, 8, 1) - timedelta(days=age_days)
        height = None if rng.random() < 0.08 else round(rng.gauss(183 if position == "Goalkeeper" else 179, 6), 1)
        foot = None if rng.random() < 0.05 else _weighted(rng, [("right", 70), ("left", 25), ("both", 5)])
        self.conn.execute(
            "INSERT INTO players VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                player_id,
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                birth.isoformat(),
                _weighted(rng, NATIONALITIES),
                position,
                height,
                foot,
            ),
        )
        self.position[player_id] = position
        self.finishing[player_id] = rng.lognormvariate(0.0, 0.8)
        return player_id

    def sign(self, player_id: int, club_id: int, start: str, shirt: int | None) -> None:
        rng = self.rng
        wage = round(rng.lognormvariate(9.6, 0.55) / 50) * 50.0
        self.conn.execute(
            "INSERT INTO contracts VALUES (?, ?, ?, ?, NULL, ?, ?)",
            (self.next_contract, player_id, club_id, start, wage, shirt),
        )
        self.open_contract[player_id] = (self.next_contract, club_id)
        self.next_contract += 1

    def release(self, player_id: int, end: str) -> None:
        contract_id, _ = self.open_contract.pop(player_id)
        self.conn.execute("UPDATE contracts SET end_date = ? WHERE contract_id = ?", (end, contract_id))

    def squad(self, club_id: int) -> list[int]:
        return [p for p, (_, c) in self.open_contract.items() if c == club_id]


def _build_squads(roster: _Roster, season_index: int) -> None:
    rng = roster.rng
    year = int(SEASONS[season_index][1][:4])
    if season_index == 0:
        for club_id in range(1, len(CLUBS) + 1):
            for shirt, position in enumerate(SQUAD_SHAPE, 1):
                player_id = roster.new_player(position, year)
                joined = date(year, 7, 1) - timedelta(days=rng.randint(0, 6 * 365))
                roster.sign(player_id, club_id, joined.isoformat(), shirt if rng.random() > 0.04 else None)
        return
    end = f"{year}-06-30"
    start = f"{year}-07-01"
    for club_id in range(1, len(CLUBS) + 1):
        for player_id in roster.squad(club_id):
            draw = rng.random()
            if draw < 0.08:
                roster.release(player_id, end)  # retired or left the league
            elif draw < 0.17:
                roster.release(player_id, end)
                other = rng.choice([c for c in range(1, len(CLUBS) + 1) if c != club_id])
                roster.sign(player_id, other, start, rng.randint(2, 40))
    for club_id in range(1, len(CLUBS) + 1):
        squad = roster.squad(club_id)
        for position in POSITIONS:
            have = sum(1 for p in squad if roster.position[p] == position)
            for _ in range(max(0, SQUAD_SHAPE.count(position) - have)):
                roster.sign(roster.new_player(position, year), club_id, start, rng.randint(2, 45))


def _fixtures(rng: random.Random, n_clubs: int) -> list[list[tuple[int, int]]]:
    # Circle method for a single round robin, then mirrored for the second half of the season.
    clubs = list(range(1, n_clubs + 1))
    rng.shuffle(clubs)
    rounds: list[list[tuple[int, int]]] = []
    for r in range(n_clubs - 1):
        pairs: list[tuple[int, int]] = []
        for i in range(n_clubs // 2):
            a, b = clubs[i], clubs[n_clubs - 1 - i]
            pairs.append((a, b) if (r + i) % 2 == 0 else (b, a))
        rounds.append(pairs)
        clubs = [clubs[0], clubs[-1], *clubs[1:-1]]
    return rounds + [[(b, a) for a, b in pairs] for pairs in rounds]


def _play_match(
    conn: sqlite3.Connection, rng: random.Random, roster: _Roster, match_id: int, home: int, away: int
) -> tuple[int, int]:
    home_goals = _poisson(rng, 1.25 * STRENGTH[home - 1] / math.sqrt(STRENGTH[away - 1]))
    away_goals = _poisson(rng, 1.0 * STRENGTH[away - 1] / math.sqrt(STRENGTH[home - 1]))
    scored = [home] * home_goals + [away] * away_goals
    minutes = sorted(rng.randint(1, 94) for _ in scored)
    rng.shuffle(scored)
    for club, minute in zip(scored, minutes, strict=True):
        opponent = away if club == home else home
        if rng.random() < 0.03:
            scorer = rng.choice([p for p in roster.squad(opponent) if roster.position[p] != "Goalkeeper"])
            conn.execute(
                "INSERT INTO goals (match_id, player_id, club_id, minute, is_penalty, is_own_goal)"
                " VALUES (?, ?, ?, ?, 0, 1)",
                (match_id, scorer, club, minute),
            )
            continue
        squad = roster.squad(club)
        scorer = rng.choices(squad, weights=[SCORING_WEIGHT[roster.position[p]] * roster.finishing[p] for p in squad])[
            0
        ]
        penalty = 1 if rng.random() < 0.1 else 0
        conn.execute(
            "INSERT INTO goals (match_id, player_id, club_id, minute, is_penalty, is_own_goal)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            (match_id, scorer, club, minute, penalty),
        )
    for club in (home, away):
        squad = roster.squad(club)
        for _ in range(_poisson(rng, 1.8)):
            conn.execute(
                "INSERT INTO cards (match_id, player_id, minute, colour) VALUES (?, ?, ?, 'yellow')",
                (match_id, rng.choice(squad), rng.randint(5, 93)),
            )
        if rng.random() < 0.06:
            conn.execute(
                "INSERT INTO cards (match_id, player_id, minute, colour) VALUES (?, ?, ?, 'red')",
                (match_id, rng.choice(squad), rng.randint(20, 90)),
            )
    return home_goals, away_goals


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the football league into ``conn`` (schema already created)."""
    for stadium_id, row in enumerate(STADIUMS, 1):
        conn.execute("INSERT INTO stadiums VALUES (?, ?, ?, ?, ?, ?)", (stadium_id, *row))
    for club_id, (name, short, city, founded, stadium, colour) in enumerate(CLUBS, 1):
        conn.execute(
            "INSERT INTO clubs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (club_id, name, short, city, founded, stadium + 1, colour),
        )
    for referee_id, (name, city) in enumerate(REFEREES, 1):
        debut = date(2004, 1, 1) + timedelta(days=rng.randint(0, 16 * 365))
        conn.execute("INSERT INTO referees VALUES (?, ?, ?, ?)", (referee_id, name, city, debut.strftime("%d/%m/%Y")))
    roster = _Roster(conn, rng)
    capacity = {c: STADIUMS[CLUBS[c - 1][4]][2] for c in range(1, len(CLUBS) + 1)}
    match_id = 0
    for season_id, (label, start, end) in enumerate(SEASONS, 1):
        conn.execute("INSERT INTO seasons VALUES (?, ?, ?, ?)", (season_id, label, start, end))
        _build_squads(roster, season_id - 1)
        first_saturday = date.fromisoformat(start)
        for round_no, pairs in enumerate(_fixtures(rng, len(CLUBS)), 1):
            # Cup weekends and international breaks leave gaps; a two-week winter break after round 11.
            weekend = first_saturday + timedelta(weeks=(round_no - 1) * 18 // 10 + (2 if round_no > 11 else 0))
            for home, away in pairs:
                match_id += 1
                played = weekend + timedelta(days=rng.choice([0, 0, 0, 1, 1, 2]))
                # Even a sell-out leaves a few hundred seats empty (segregation, unsold singles).
                fill = min(0.99, rng.uniform(0.55, 1.05) + (0.1 if STRENGTH[away - 1] > 1.2 else 0))
                fill -= rng.random() * 0.01
                attendance = None if rng.random() < 0.03 else int(capacity[home] * fill)
                referee = rng.randint(1, len(REFEREES))
                conn.execute(
                    "INSERT INTO matches VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
                    (match_id, season_id, round_no, played.isoformat(), home, away, attendance, referee),
                )
                home_goals, away_goals = _play_match(conn, rng, roster, match_id, home, away)
                conn.execute(
                    "UPDATE matches SET home_goals = ?, away_goals = ? WHERE match_id = ?",
                    (home_goals, away_goals, match_id),
                )
