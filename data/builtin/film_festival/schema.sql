-- The Lanternbay International Film Festival, editions 2018 to 2024.

CREATE TABLE editions (
    edition_id     INTEGER PRIMARY KEY,
    year           INTEGER NOT NULL UNIQUE,
    edition_number INTEGER NOT NULL,
    start_date     TEXT NOT NULL,          -- ISO date
    end_date       TEXT NOT NULL,
    theme          TEXT,                   -- NULL when the edition had no announced theme
    online_only    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE venues (
    venue_id       INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    district       TEXT NOT NULL,
    seats          INTEGER NOT NULL,
    is_outdoor     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE films (
    film_id        INTEGER PRIMARY KEY,
    title          TEXT NOT NULL,
    release_year   INTEGER NOT NULL,
    runtime_min    INTEGER NOT NULL,
    country        TEXT NOT NULL,          -- main production country
    language       TEXT NOT NULL,
    genre          TEXT NOT NULL,
    budget_usd     REAL                    -- NULL when undisclosed
);

CREATE TABLE people (
    person_id      INTEGER PRIMARY KEY,
    full_name      TEXT NOT NULL,
    birth_year     INTEGER,
    country        TEXT NOT NULL
);

-- Who did what on which film; one person may hold several roles on the same film.
CREATE TABLE film_credits (
    film_id        INTEGER NOT NULL REFERENCES films(film_id),
    person_id      INTEGER NOT NULL REFERENCES people(person_id),
    role           TEXT NOT NULL,          -- 'director', 'writer', 'actor', 'producer'
    PRIMARY KEY (film_id, person_id, role)
);

-- The festival programme: each film is selected once, in one section of one edition.
CREATE TABLE selections (
    edition_id     INTEGER NOT NULL REFERENCES editions(edition_id),
    film_id        INTEGER NOT NULL REFERENCES films(film_id),
    section        TEXT NOT NULL,          -- 'Main Competition', 'Panorama', 'Documentary', 'Shorts', 'Midnight', 'Retrospective'
    is_world_premiere INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (edition_id, film_id)
);

CREATE TABLE screenings (
    screening_id   INTEGER PRIMARY KEY,
    edition_id     INTEGER NOT NULL REFERENCES editions(edition_id),
    film_id        INTEGER NOT NULL REFERENCES films(film_id),
    venue_id       INTEGER REFERENCES venues(venue_id),   -- NULL for online screenings
    screening_date TEXT NOT NULL,          -- ISO date
    start_time     TEXT NOT NULL,          -- 'HH:MM', 24-hour clock
    tickets_sold   INTEGER NOT NULL
);

CREATE TABLE awards (
    award_id       INTEGER PRIMARY KEY,
    edition_id     INTEGER NOT NULL REFERENCES editions(edition_id),
    category       TEXT NOT NULL,
    film_id        INTEGER NOT NULL REFERENCES films(film_id),
    person_id      INTEGER REFERENCES people(person_id)   -- set for awards given to a person
);

CREATE TABLE reviews (
    review_id      INTEGER PRIMARY KEY,
    film_id        INTEGER NOT NULL REFERENCES films(film_id),
    critic_name    TEXT NOT NULL,
    outlet         TEXT NOT NULL,
    rating         REAL NOT NULL,          -- 0.5 to 5.0 stars in half-star steps
    published_on   TEXT NOT NULL           -- ISO date
);
