-- A fictional top-flight football league, seasons 2021/22 to 2023/24.

CREATE TABLE stadiums (
    stadium_id   INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    city         TEXT NOT NULL,
    capacity     INTEGER NOT NULL,
    surface      TEXT NOT NULL,          -- 'grass', 'hybrid' or 'artificial'
    opened_on    TEXT                    -- ISO date; NULL where the records are lost
);

CREATE TABLE clubs (
    club_id      INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    short_name   TEXT NOT NULL,
    city         TEXT NOT NULL,
    founded_year INTEGER NOT NULL,
    stadium_id   INTEGER NOT NULL REFERENCES stadiums(stadium_id),
    kit_colour   TEXT
);

CREATE TABLE seasons (
    season_id    INTEGER PRIMARY KEY,
    label        TEXT NOT NULL UNIQUE,   -- e.g. '2022/23'
    start_date   TEXT NOT NULL,
    end_date     TEXT NOT NULL
);

CREATE TABLE players (
    player_id    INTEGER PRIMARY KEY,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    birth_date   TEXT NOT NULL,          -- ISO date
    nationality  TEXT NOT NULL,
    position     TEXT NOT NULL,          -- 'Goalkeeper', 'Defender', 'Midfielder', 'Forward'
    height_cm    REAL,                   -- NULL when not measured
    preferred_foot TEXT                  -- 'left', 'right', 'both'; NULL when unknown
);

-- One row per spell of a player at a club; end_date NULL means the spell is still running.
CREATE TABLE contracts (
    contract_id  INTEGER PRIMARY KEY,
    player_id    INTEGER NOT NULL REFERENCES players(player_id),
    club_id      INTEGER NOT NULL REFERENCES clubs(club_id),
    start_date   TEXT NOT NULL,
    end_date     TEXT,
    weekly_wage  REAL NOT NULL,          -- in euros
    shirt_number INTEGER
);

CREATE TABLE referees (
    referee_id   INTEGER PRIMARY KEY,
    full_name    TEXT NOT NULL,
    home_city    TEXT NOT NULL,
    debut        TEXT NOT NULL           -- legacy format 'DD/MM/YYYY' from the old federation system
);

CREATE TABLE matches (
    match_id     INTEGER PRIMARY KEY,
    season_id    INTEGER NOT NULL REFERENCES seasons(season_id),
    round        INTEGER NOT NULL,
    match_date   TEXT NOT NULL,          -- ISO date
    home_club_id INTEGER NOT NULL REFERENCES clubs(club_id),
    away_club_id INTEGER NOT NULL REFERENCES clubs(club_id),
    home_goals   INTEGER NOT NULL,
    away_goals   INTEGER NOT NULL,
    attendance   INTEGER,                -- NULL for matches played behind closed doors or unreported
    referee_id   INTEGER NOT NULL REFERENCES referees(referee_id)
);

-- club_id is the club credited with the goal (for an own goal, the opponent of the scorer).
CREATE TABLE goals (
    goal_id      INTEGER PRIMARY KEY,
    match_id     INTEGER NOT NULL REFERENCES matches(match_id),
    player_id    INTEGER NOT NULL REFERENCES players(player_id),
    club_id      INTEGER NOT NULL REFERENCES clubs(club_id),
    minute       INTEGER NOT NULL,
    is_penalty   INTEGER NOT NULL DEFAULT 0,
    is_own_goal  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE cards (
    card_id      INTEGER PRIMARY KEY,
    match_id     INTEGER NOT NULL REFERENCES matches(match_id),
    player_id    INTEGER NOT NULL REFERENCES players(player_id),
    minute       INTEGER NOT NULL,
    colour       TEXT NOT NULL           -- 'yellow' or 'red'
);
