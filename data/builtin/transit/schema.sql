-- A city's public transport network: routes, stops, fleet, staff, trips and ticket sales.

CREATE TABLE depots (
    depot_id     INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    district     TEXT NOT NULL,
    opened_year  INTEGER NOT NULL
);

CREATE TABLE routes (
    route_id     INTEGER PRIMARY KEY,
    route_code   TEXT NOT NULL UNIQUE,   -- what the public sees, e.g. 12, N4, T2, F1
    name         TEXT NOT NULL,
    mode         TEXT NOT NULL,          -- Bus, Tram or Ferry
    is_night     INTEGER NOT NULL        -- 1 for night services
);

CREATE TABLE stops (
    stop_id      INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,          -- a stop name can exist twice, one per direction
    zone         INTEGER NOT NULL,       -- fare zone, 1 is the centre
    latitude     REAL NOT NULL,
    longitude    REAL NOT NULL,
    step_free    INTEGER                 -- 1/0; NULL where not yet surveyed
);

CREATE TABLE route_stops (
    route_id      INTEGER NOT NULL REFERENCES routes (route_id),
    stop_sequence INTEGER NOT NULL,      -- 1 for the first stop of the route
    stop_id       INTEGER NOT NULL REFERENCES stops (stop_id),
    PRIMARY KEY (route_id, stop_sequence)
);

CREATE TABLE vehicles (
    vehicle_id        INTEGER PRIMARY KEY,
    fleet_number      TEXT NOT NULL UNIQUE,
    model             TEXT NOT NULL,
    mode              TEXT NOT NULL,     -- Bus, Tram or Ferry
    capacity          INTEGER NOT NULL,
    commissioned_year INTEGER NOT NULL,
    depot_id          INTEGER NOT NULL REFERENCES depots (depot_id)
);

CREATE TABLE drivers (
    driver_id    INTEGER PRIMARY KEY,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    depot_id     INTEGER NOT NULL REFERENCES depots (depot_id),
    licence_date TEXT NOT NULL           -- DD-MM-YYYY, from the legacy HR export
);

CREATE TABLE trips (
    trip_id             INTEGER PRIMARY KEY,
    route_id            INTEGER NOT NULL REFERENCES routes (route_id),
    vehicle_id          INTEGER NOT NULL REFERENCES vehicles (vehicle_id),
    driver_id           INTEGER NOT NULL REFERENCES drivers (driver_id),
    service_date        TEXT NOT NULL,   -- YYYY-MM-DD
    scheduled_departure TEXT NOT NULL,   -- HH:MM
    delay_minutes       INTEGER,         -- NULL when the vehicle's tracker was offline
    cancelled           INTEGER NOT NULL
);

CREATE TABLE incidents (
    incident_id  INTEGER PRIMARY KEY,
    trip_id      INTEGER NOT NULL REFERENCES trips (trip_id),
    category     TEXT NOT NULL,
    severity     INTEGER NOT NULL,       -- 1 (minor) to 3 (serious)
    description  TEXT
);

CREATE TABLE fare_products (
    product_id   INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    price        REAL NOT NULL,
    valid_days   INTEGER NOT NULL
);

CREATE TABLE ticket_sales (
    sale_id        INTEGER PRIMARY KEY,
    product_id     INTEGER NOT NULL REFERENCES fare_products (product_id),
    stop_id        INTEGER REFERENCES stops (stop_id),  -- NULL: sold in the app
    sale_date      TEXT NOT NULL,        -- YYYY-MM-DD
    quantity       INTEGER NOT NULL,
    payment_method TEXT NOT NULL         -- card, cash or mobile (case varies)
);
